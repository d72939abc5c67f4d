package checkpoint

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path"
	"strconv"
	"strings"
)

// The layout of checkpoint storage:
//
//	<checkpoints dir>/<job id>/chk-<n>/_metadata
//	<checkpoints dir>/<job id>/chk-<n>/<vertex>-<subtask>-a<attempt>
//	<checkpoints dir>/<job id>/shared/<random>
//	<savepoints dir>/savepoint-<job id prefix>-<random>/_metadata
//	<savepoints dir>/savepoint-<job id prefix>-<random>/<vertex>-<subtask>-a<attempt>
//
// State handles name objects relative to their snapshot directory, so a
// savepoint directory moved elsewhere restores as it is.

// CheckpointDir is the directory of checkpoint id of job, relative to the
// checkpoints directory.
func CheckpointDir(job string, id int64) string { return fmt.Sprintf("%s/chk-%d", job, id) }

// ParseCheckpointDir returns the checkpoint ID of a "chk-<n>" path segment.
func ParseCheckpointDir(seg string) (int64, bool) {
	n, ok := strings.CutPrefix(seg, "chk-")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(n, 10, 64)
	return id, err == nil && id > 0
}

// SavepointDir returns a fresh savepoint directory name for job.
func SavepointDir(job string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := job
	if len(prefix) > 6 {
		prefix = prefix[:6]
	}
	return fmt.Sprintf("savepoint-%s-%s", prefix, hex.EncodeToString(b[:]))
}

// ObjectName is the name of the state object of one subtask attempt.
func ObjectName(vertex int32, subtask int, attempt int32) string {
	return fmt.Sprintf("%d-%d-a%d", vertex, subtask, attempt)
}

// SharedDir is the directory of a job's shared objects, relative to the
// job's checkpoint directory: files of incremental checkpoints that more
// than one checkpoint may reference (see SharedObjects).
const SharedDir = "shared"

// NewSharedObject returns a fresh shared object name, relative to the job's
// checkpoint directory.
func NewSharedObject() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return SharedDir + "/" + hex.EncodeToString(b[:])
}

// SharedObjectPath resolves a shared object a state handle names against
// the directory of the snapshot holding the handle: shared objects are
// relative to its parent, the job's checkpoint directory.
func SharedObjectPath(snapshotDir, object string) string {
	dir := path.Dir(snapshotDir)
	if dir == "." {
		return object
	}
	return Join(dir, object)
}
