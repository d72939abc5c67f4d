package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/checkpoint/objstore"
	"github.com/weirstream/weir/internal/clock"
)

// Stores opens checkpoint storage by URI and keeps each store open for
// reuse. Every store it returns retries transient errors. Safe for
// concurrent use.
type Stores struct {
	opts  objstore.Options
	clock clock.Clock
	mu    struct {
		sync.Mutex
		m map[string]objstore.Store
	}
}

// NewStores returns a cache opening stores with opts (the process's S3
// settings and credentials: never the job's).
func NewStores(opts objstore.Options, c clock.Clock) *Stores {
	s := &Stores{opts: opts, clock: c}
	s.mu.m = map[string]objstore.Store{}
	return s
}

// Open returns the store at uri.
func (s *Stores) Open(ctx context.Context, uri string) (objstore.Store, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.mu.m[uri]; ok {
		return st, nil
	}
	st, err := objstore.Open(ctx, uri, s.opts)
	if err != nil {
		return nil, err
	}
	st = objstore.Retrying(st, objstore.DefaultRetryPolicy(), s.clock)
	s.mu.m[uri] = st
	return st, nil
}

// Close closes every store.
func (s *Stores) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for uri, st := range s.mu.m {
		errs = append(errs, st.Close())
		delete(s.mu.m, uri)
	}
	return errors.Join(errs...)
}

// Join joins a snapshot directory and a name within it into a key. It does
// not clean the result: a ".." in name stays in the key, which every store
// refuses (objstore.ValidateKey), rather than lead out of dir.
func Join(dir, name string) string {
	if dir == "" {
		return name
	}
	return strings.TrimSuffix(dir, "/") + "/" + name
}

// WriteMetadata publishes a snapshot's _metadata: the commit point. It
// fails with objstore.ErrExist if the snapshot was already published.
func WriteMetadata(ctx context.Context, st objstore.Store, dir string, m *weirv1.CheckpointMetadata) error {
	b, err := EncodeMetadata(m)
	if err != nil {
		return err
	}
	return st.PutIfAbsent(ctx, Join(dir, MetadataName), b)
}

// ReadMetadata reads and verifies a snapshot's _metadata.
func ReadMetadata(ctx context.Context, st objstore.Store, dir string) (*weirv1.CheckpointMetadata, error) {
	b, err := st.Get(ctx, Join(dir, MetadataName))
	if err != nil {
		return nil, err
	}
	return DecodeMetadata(b)
}

// Completed returns the IDs of job's checkpoints that have a _metadata, newest first.
func Completed(ctx context.Context, st objstore.Store, job string) ([]int64, error) {
	keys, err := st.List(ctx, job+"/")
	if err != nil {
		return nil, err
	}
	var ids []int64
	for _, k := range keys {
		rest := strings.TrimPrefix(k, job+"/")
		seg, name, ok := strings.Cut(rest, "/")
		if !ok || name != MetadataName {
			continue
		}
		if id, ok := ParseCheckpointDir(seg); ok {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] > ids[j] })
	return ids, nil
}

// Garbage deletes the directories of job's checkpoints below id that have
// no _metadata: leftovers of checkpoints that never completed.
func Garbage(ctx context.Context, st objstore.Store, job string, below int64) error {
	keys, err := st.List(ctx, job+"/")
	if err != nil {
		return err
	}
	dirs := map[int64]bool{} // id -> has metadata
	for _, k := range keys {
		seg, name, ok := strings.Cut(strings.TrimPrefix(k, job+"/"), "/")
		if !ok {
			continue
		}
		if id, ok := ParseCheckpointDir(seg); ok && id < below {
			dirs[id] = dirs[id] || name == MetadataName
		}
	}
	var errs []error
	for id, committed := range dirs {
		if !committed {
			errs = append(errs, st.DeletePrefix(ctx, CheckpointDir(job, id)+"/"))
		}
	}
	return errors.Join(errs...)
}

// Verify reads every state object a snapshot references and checks every
// section's checksum. A damaged snapshot fails with ErrCorrupt.
func Verify(ctx context.Context, st objstore.Store, dir string, m *weirv1.CheckpointMetadata) error {
	objects := map[string][]byte{}
	for _, op := range m.GetOperators() {
		for _, s := range op.GetSubtasks() {
			h := s.GetHandle()
			if err := ValidateObjectName(h.GetObject()); err != nil {
				return fmt.Errorf("%w: %v", ErrCorrupt, err)
			}
			obj, ok := objects[h.GetObject()]
			if !ok {
				var err error
				if obj, err = st.Get(ctx, Join(dir, h.GetObject())); err != nil {
					if errors.Is(err, objstore.ErrNotExist) {
						return fmt.Errorf("%w: state object %s is missing", ErrCorrupt, h.GetObject())
					}
					return err
				}
				objects[h.GetObject()] = obj
			}
			if _, err := ReadSection(obj, h); err != nil {
				return fmt.Errorf("operator %s subtask %d: %w", op.GetOperatorUid(), s.GetSubtaskIndex(), err)
			}
		}
	}
	return nil
}

// SweepShared deletes the shared objects of job that no completed
// checkpoint (one with _metadata) references: uploads of checkpoints that
// never completed, and objects a discard left behind. It must not run
// while a checkpoint of the job may complete (a pending checkpoint's new
// objects are referenced by no _metadata yet): the jobmanager runs it
// when the job has ended.
func SweepShared(ctx context.Context, st objstore.Store, job string) error {
	keys, err := st.List(ctx, Join(job, SharedDir)+"/")
	if err != nil || len(keys) == 0 {
		return err
	}
	live, err := LiveShared(ctx, st, job)
	if err != nil {
		return err
	}
	var errs []error
	for _, k := range keys {
		if !live[strings.TrimPrefix(k, job+"/")] {
			errs = append(errs, st.Delete(ctx, k))
		}
	}
	return errors.Join(errs...)
}

// LiveShared returns the shared objects (relative to the job's checkpoint
// directory) the completed checkpoints of job reference.
func LiveShared(ctx context.Context, st objstore.Store, job string) (map[string]bool, error) {
	ids, err := Completed(ctx, st, job)
	if err != nil {
		return nil, err
	}
	live := map[string]bool{}
	for _, id := range ids {
		m, err := ReadMetadata(ctx, st, CheckpointDir(job, id))
		if err != nil {
			return nil, fmt.Errorf("checkpoint %d: %w", id, err)
		}
		for _, o := range SharedObjects(m) {
			live[o] = true
		}
	}
	return live, nil
}

// SharedObjects lists the shared objects a snapshot's state handles
// reference (relative to the job's checkpoint directory).
func SharedObjects(m *weirv1.CheckpointMetadata) []string {
	var out []string
	for _, op := range m.GetOperators() {
		for _, s := range op.GetSubtasks() {
			out = append(out, s.GetHandle().GetSharedObjects()...)
		}
	}
	return out
}

// VerifyShared checks that every shared object a snapshot in dir
// references exists (their checksums are verified when they are read). A
// missing one fails with ErrCorrupt.
func VerifyShared(ctx context.Context, st objstore.Store, dir string, m *weirv1.CheckpointMetadata) error {
	keys, err := st.List(ctx, SharedObjectPath(dir, SharedDir+"/"))
	if err != nil {
		return err
	}
	have := make(map[string]bool, len(keys))
	for _, k := range keys {
		have[k] = true
	}
	for _, op := range m.GetOperators() {
		for _, s := range op.GetSubtasks() {
			for _, o := range s.GetHandle().GetSharedObjects() {
				if !have[SharedObjectPath(dir, o)] {
					return fmt.Errorf("%w: operator %s subtask %d: shared object %s is missing", ErrCorrupt, op.GetOperatorUid(), s.GetSubtaskIndex(), o)
				}
			}
		}
	}
	return nil
}
