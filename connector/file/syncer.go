package file

import (
	"errors"
	"fmt"
	"os"
	"sync"
)

// syncer makes an exactly-once writer's pre-commits durable off the task
// goroutine (stream.SnapshotSyncer): the data of the part files closed
// since the last sync, and the directory, after the renames that gave them
// their pending names and published earlier ones.
//
// The task goroutine hands it each closed part file, still open, and marks
// the directory after each rename; a sync takes what was handed over until
// then, syncs it and closes the files. Syncs run one at a time, so one that
// returns has waited for every earlier one: when SyncSnapshot(n) succeeds,
// every file closed before SnapshotState(n) returned is durable under its
// pending name.
type syncer struct {
	run sync.Mutex // held for a whole sync
	mu  sync.Mutex // guards the fields below, never held for I/O
	// files are the part files closed for writing and not synced yet,
	// the oldest first.
	files []*os.File
	added int64 // files handed over, ever
	// synced is how many of the files handed over are durable: the
	// files handed over are synced in order.
	synced int64
	dirty  bool  // a rename in the directory is not synced yet
	err    error // a failed sync: what was written can't be trusted
}

// add hands over f, flushed and closed for writing, after its rename, and
// returns its sequence number, for synced.
func (s *syncer) add(f *os.File) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files = append(s.files, f)
	s.dirty = true
	s.added++
	return s.added
}

// renamed marks the directory as changed by a rename.
func (s *syncer) renamed() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dirty = true
}

// durable reports whether the file of sequence number seq is synced, or
// the error of a failed sync.
func (s *syncer) durable(seq int64) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return seq <= s.synced, s.err
}

// failed returns the error of a failed sync, if one failed.
func (s *syncer) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// sync syncs and closes the files handed over, then syncs dir if a rename
// changed it. A failure is sticky: every later sync returns it.
func (s *syncer) sync(dir string) error {
	s.run.Lock()
	defer s.run.Unlock()
	s.mu.Lock()
	files, dirty, err := s.files, s.dirty, s.err
	s.files, s.dirty = nil, false
	seq := s.synced + int64(len(files))
	s.mu.Unlock()
	if err != nil {
		closeAll(files)
		return err
	}
	for i, f := range files {
		err = f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			closeAll(files[i+1:])
			err = fmt.Errorf("file sink: syncing %q: %w", f.Name(), err)
			break
		}
	}
	if err == nil && dirty {
		err = syncDir(dir)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.err = err
		return err
	}
	s.synced = seq
	return nil
}

// close closes the files not synced yet, for a writer that is closed
// without publishing them.
func (s *syncer) close() error {
	s.mu.Lock()
	files := s.files
	s.files = nil
	s.mu.Unlock()
	return closeAll(files)
}

func closeAll(files []*os.File) error {
	var errs []error
	for _, f := range files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("file sink: syncing %q: %w", dir, err)
	}
	return nil
}
