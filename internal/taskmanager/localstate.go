package taskmanager

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Local recovery (state.backend.local-recovery): besides uploading a
// subtask's state object to checkpoint storage, the taskmanager keeps a
// copy on its local disk,
//
//	<data dir>/local-state/<job id>/<vertex>-<subtask>/chk-<n>/<object>
//
// and a subtask deployed again to a taskmanager holding the copy of the
// checkpoint it restores reads it instead of downloading it. The copy is a
// secondary: it is verified against the CRC-32C of the state handle the
// jobmanager sends, and anything missing or damaged is read from checkpoint
// storage. The directory survives a restart of the taskmanager (unlike the
// Pebble working state), so a taskmanager that comes back with the same
// data dir and id recovers locally; the jobmanager deploys each subtask to
// the taskmanager that ran it before when it can.

// nativeCopy names the local copy of a native (incremental) snapshot in a
// checkpoint's directory: on Pebble the Pebble checkpoint itself, moved
// there after its upload — hard links to the database's files, no copied
// bytes; on the heap the chain's objects, the newest written and the rest
// hard links to the previous copy's files.
const nativeCopy = "native"

// localCopiesKept is how many checkpoints' copies a subtask keeps: the
// newest may not complete, so the one before it is kept too.
const localCopiesKept = 3

// localState is a taskmanager's local copies of its subtasks' state.
type localState struct {
	root string // <data dir>/local-state
}

func (l localState) subtaskDir(job string, vertex int32, subtask int) string {
	return filepath.Join(l.root, job, fmt.Sprintf("%d-%d", vertex, subtask))
}

func (l localState) path(job string, vertex int32, subtask int, checkpoint int64, object string) string {
	return filepath.Join(l.subtaskDir(job, vertex, subtask), "chk-"+strconv.FormatInt(checkpoint, 10), object)
}

// put stores a copy of a state object written for checkpoint, then
// removes the copies of all but the newest localCopiesKept checkpoints.
func (l localState) put(job string, vertex int32, subtask int, checkpoint int64, object string, data []byte) error {
	p := l.path(job, vertex, subtask, checkpoint, object)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		return err
	}
	return l.prune(job, vertex, subtask)
}

// keep moves a native snapshot's directory to dst (with move, which
// renames it) as a local copy, then prunes old copies like put.
func (l localState) keep(job string, vertex int32, subtask int, dst string, move func(dst string) error) error {
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	if err := move(dst); err != nil {
		return err
	}
	return l.prune(job, vertex, subtask)
}

// prune removes the copies of all but the newest localCopiesKept
// checkpoints of a subtask.
func (l localState) prune(job string, vertex int32, subtask int) error {
	dir := l.subtaskDir(job, vertex, subtask)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var ids []int64
	for _, e := range entries {
		if n, ok := strings.CutPrefix(e.Name(), "chk-"); ok {
			if id, err := strconv.ParseInt(n, 10, 64); err == nil {
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	for _, id := range ids[:max(0, len(ids)-localCopiesKept)] {
		if err := os.RemoveAll(filepath.Join(dir, "chk-"+strconv.FormatInt(id, 10))); err != nil {
			return err
		}
	}
	return nil
}

// get returns the local copy of a state object, or false.
func (l localState) get(job string, vertex int32, subtask int, checkpoint int64, object string) ([]byte, bool) {
	b, err := os.ReadFile(l.path(job, vertex, subtask, checkpoint, object))
	return b, err == nil
}
