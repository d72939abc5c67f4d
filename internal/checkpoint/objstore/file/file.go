// Package file is an objstore.Store in a local directory (file:///abs/dir):
// for single-machine deployments, `weir local`, and shared file systems
// mounted at the same path on every process.
//
// Layout: the object with key "a/b/c" is the regular file DIR/a/b/c. Names
// starting with '.' are the store's own (temporary files, ".tmp-*") and are
// never listed; keys cannot contain them.
//
// Durability: Put writes DIR/a/b/.tmp-RANDOM, fsyncs it, renames it over
// DIR/a/b/c, and fsyncs DIR/a/b and every directory above it up to DIR, so
// that once Put returns the object survives a crash of the machine, and a
// reader sees the old or the new file, never a part. PutIfAbsent writes the
// temporary file the same way and then hard-links it to the key: link(2)
// fails if the key exists, so of racing publishers exactly one succeeds,
// whichever processes they run in. (It therefore needs a file system with
// hard links.) PutFile hard-links its file into the store when both are on
// one file system, and fsyncs it, instead of copying its bytes: the file
// must be immutable, as Pebble's SSTs are, since the object is the same
// bytes on disk. On another file system it copies the file as Put writes.
//
// Confinement: every access goes through an os.Root, so neither a key nor a
// symbolic link planted in the directory can reach a file outside it. List
// reports regular files only and does not descend into symbolic links.
//
// A Put that crashes midway leaves a .tmp-* file behind; List ignores it and
// DeletePrefix removes it with the directory that holds it.
package file

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/weirstream/weir/internal/checkpoint/objstore/internal/contract"
)

const (
	dirPerm  = 0o750
	filePerm = 0o640
	tmpStem  = ".tmp-"
)

// Store is an object store in a local directory. It keeps no state besides
// an open handle on the directory, so any number of Stores, in any number
// of processes, may share one directory.
type Store struct {
	root *os.Root
}

// Open returns a store in dir, an absolute path, creating the directory if
// needed.
func Open(dir string) (*Store, error) {
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("objstore/file: directory %q is not an absolute path", dir)
	}
	dir = filepath.Clean(dir)
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return nil, fmt.Errorf("objstore/file: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("objstore/file: %w", err)
	}
	return &Store{root: root}, nil
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.root.Name() }

func check(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return contract.ValidateKey(key)
}

func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := check(ctx, key); err != nil {
		return nil, err
	}
	body, err := s.root.ReadFile(key)
	switch {
	case err == nil:
		return body, nil
	case isAbsent(err) || errors.Is(err, syscall.EISDIR):
		return nil, fmt.Errorf("objstore/file: get %q: %w", key, contract.ErrNotExist)
	default:
		return nil, fmt.Errorf("objstore/file: get %q: %w", key, err)
	}
}

// isAbsent reports whether err says a path does not exist: its last
// element is missing, or an earlier element is a file (ENOTDIR).
func isAbsent(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

func (s *Store) Put(ctx context.Context, key string, body []byte) error {
	if err := check(ctx, key); err != nil {
		return err
	}
	tmp, err := s.writeTemp(ctx, key, bytes.NewReader(body), int64(len(body)))
	if err != nil {
		return fmt.Errorf("objstore/file: put %q: %w", key, err)
	}
	return s.publish(key, tmp, "put")
}

// PutFile makes the local file at src the object key. On the store's file
// system it links the file in rather than copying it (see
// objstore.FilePutter: the file must be immutable), and fsyncs it, since
// its writer may not have; elsewhere, or where it cannot link, it copies
// the file into a temporary file as Put does. Either way the new name is
// then renamed into place and its directories fsynced, as Put's are.
func (s *Store) PutFile(ctx context.Context, key, src string) error {
	if err := check(ctx, key); err != nil {
		return err
	}
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("objstore/file: put %q: %w", key, err)
	}
	defer func() { _ = f.Close() }()
	tmp, err := s.linkTemp(f, src)
	if err != nil {
		info, serr := f.Stat()
		if serr != nil {
			return fmt.Errorf("objstore/file: put %q: %w", key, serr)
		}
		if tmp, err = s.writeTemp(ctx, key, f, info.Size()); err != nil {
			return fmt.Errorf("objstore/file: put %q from %s: %w", key, src, err)
		}
	}
	if err := ctx.Err(); err != nil {
		_ = s.root.Remove(tmp)
		return err // a canceled Put changes nothing
	}
	return s.publish(key, tmp, "put")
}

// link makes a hard link; a variable so that tests can refuse it, as a
// file system without hard links or another device does.
var link = os.Link

// linkTemp hard-links src, open as f, into the store's directory under a
// temporary name, and fsyncs it. The name is in the top directory, which
// the store opened: a link made through a path deeper in could follow a
// symbolic link planted there out of the store. publish then renames it
// through the os.Root.
func (s *Store) linkTemp(f *os.File, src string) (string, error) {
	name := tmpStem + randomSuffix()
	if err := link(src, filepath.Join(s.root.Name(), name)); err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		_ = s.root.Remove(name)
		return "", err
	}
	return name, nil
}

// publish renames the temporary file tmp to key, creating key's
// directories if a linked tmp is not in them yet, and fsyncs the
// directories from key's up to the root.
func (s *Store) publish(key, tmp, op string) error {
	err := s.root.Rename(tmp, key)
	// A concurrent Delete may prune key's directory before the rename;
	// (re)create it and try again.
	for attempt := 0; err != nil && isAbsent(err) && attempt < 10; attempt++ {
		if dir := path.Dir(key); dir != "." {
			if merr := s.mkdirAll(dir); merr != nil {
				err = merr
				break
			}
		}
		err = s.root.Rename(tmp, key)
	}
	if err != nil {
		_ = s.root.Remove(tmp)
		return fmt.Errorf("objstore/file: %s %q: %w", op, key, s.explain(key, err))
	}
	if err := s.syncDirs(key); err != nil {
		return fmt.Errorf("objstore/file: %s %q: %w", op, key, err)
	}
	return nil
}

func (s *Store) PutIfAbsent(ctx context.Context, key string, body []byte) error {
	if err := check(ctx, key); err != nil {
		return err
	}
	tmp, err := s.writeTemp(ctx, key, bytes.NewReader(body), int64(len(body)))
	if err != nil {
		return fmt.Errorf("objstore/file: put-if-absent %q: %w", key, err)
	}
	err = s.root.Link(tmp, key)
	_ = s.root.Remove(tmp)
	switch {
	case err != nil && s.conflicts(key):
		return fmt.Errorf("objstore/file: put-if-absent %q: %w", key, s.explain(key, err))
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("objstore/file: put-if-absent %q: %w", key, contract.ErrExist)
	case err != nil:
		return fmt.Errorf("objstore/file: put-if-absent %q: %w", key, err)
	}
	if err := s.syncDirs(key); err != nil {
		return fmt.Errorf("objstore/file: put-if-absent %q: %w", key, err)
	}
	return nil
}

// explain says what a failure to create key means when the cause is a
// key/directory conflict, which the file system reports obscurely (EEXIST,
// EISDIR or ENOTDIR, depending on the call).
func (s *Store) explain(key string, err error) error {
	if s.conflicts(key) {
		return fmt.Errorf("in a file store a key cannot both hold an object and be a directory of other keys: %w", err)
	}
	return err
}

// conflicts reports whether key names a directory, or one of its parent
// directories names a file.
func (s *Store) conflicts(key string) bool {
	if fi, err := s.root.Lstat(key); err == nil && fi.IsDir() {
		return true
	}
	for dir := path.Dir(key); dir != "."; dir = path.Dir(dir) {
		if fi, err := s.root.Lstat(dir); err == nil && !fi.IsDir() {
			return true
		}
	}
	return false
}

// writeTemp writes body, which holds size bytes, to a new temporary file
// in key's directory, creating the directories as needed, and fsyncs it. It
// returns the file's name; the caller renames or links it into place.
func (s *Store) writeTemp(ctx context.Context, key string, body io.Reader, size int64) (string, error) {
	dir := path.Dir(key)
	var f *os.File
	var name string
	for attempt := 0; ; attempt++ {
		if dir != "." {
			if err := s.mkdirAll(dir); err != nil {
				return "", s.explain(key, err)
			}
		}
		name = path.Join(dir, tmpStem+randomSuffix())
		var err error
		f, err = s.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
		if err == nil {
			break
		}
		// A concurrent Delete may have pruned the directory between MkdirAll
		// and OpenFile; once our file is in it, it cannot be pruned.
		if !errors.Is(err, fs.ErrNotExist) || attempt >= 10 {
			return "", s.explain(key, err)
		}
	}
	// A bytes.Reader is written in one call; a file is copied in the
	// kernel (copy_file_range).
	n, err := io.Copy(f, body)
	if err == nil && n != size {
		err = fmt.Errorf("copied %d bytes, want %d: the source changed while it was copied", n, size)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = ctx.Err() // a canceled Put changes nothing
	}
	if err != nil {
		_ = s.root.Remove(name)
		return "", err
	}
	return name, nil
}

// mkdirAll creates dir and the directories above it. A concurrent Delete
// may prune a directory MkdirAll has just found or made before it makes
// the next one below (ENOENT), and a concurrent Put may make one it found
// missing (EEXIST); it tries again. (A file where a directory should be
// fails every try, and the caller explains it.)
func (s *Store) mkdirAll(dir string) error {
	for attempt := 0; ; attempt++ {
		err := s.root.MkdirAll(dir, dirPerm)
		racing := errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrExist)
		if err == nil || !racing || attempt >= 10 {
			return err
		}
	}
}

func randomSuffix() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails
	return hex.EncodeToString(b[:])
}

// syncDirs fsyncs the directories from key's parent up to the root, so that
// the new directory entry, and any directories created for it, are durable.
// (A directory created by a concurrent Put may not be synced yet, so every
// level is synced, not only the ones this call created.)
func (s *Store) syncDirs(key string) error {
	for dir := path.Dir(key); ; dir = path.Dir(dir) {
		if err := s.syncDir(dir); err != nil {
			return err
		}
		if dir == "." {
			return nil
		}
	}
}

func (s *Store) syncDir(dir string) error {
	d, err := s.root.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

func (s *Store) List(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := contract.ValidatePrefix(prefix); err != nil {
		return nil, err
	}
	keys := make([]string, 0)
	err := s.walk(ctx, prefix, func(key string, d fs.DirEntry) (bool, error) {
		if d.Type().IsRegular() && strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("objstore/file: list %q: %w", prefix, err)
	}
	slices.Sort(keys)
	return keys, nil
}

// walk calls visit for every valid key in the tree that may match prefix:
// directories that could hold a match (visit returns whether to descend)
// and regular files (filtering them by prefix is visit's job). It starts at
// the deepest directory the prefix names completely.
func (s *Store) walk(ctx context.Context, prefix string, visit func(key string, d fs.DirEntry) (bool, error)) error {
	start := "."
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = prefix[:i]
	}
	var walkDir func(dir string) error
	walkDir = func(dir string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		f, err := s.root.Open(dir)
		if isAbsent(err) {
			return nil
		}
		if err != nil {
			return err
		}
		entries, err := f.ReadDir(-1)
		f.Close()
		if isAbsent(err) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, e := range entries {
			key := e.Name()
			if dir != "." {
				key = dir + "/" + key
			}
			if contract.ValidateKey(key) != nil {
				continue // a temporary file, or a stranger
			}
			switch {
			case e.IsDir():
				if !strings.HasPrefix(key+"/", prefix) && !strings.HasPrefix(prefix, key+"/") {
					continue // nothing under it can match
				}
				descend, err := visit(key, e)
				if err != nil {
					return err
				}
				if descend {
					if err := walkDir(key); err != nil {
						return err
					}
				}
			case e.Type().IsRegular():
				if _, err := visit(key, e); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walkDir(start)
}

func (s *Store) Delete(ctx context.Context, key string) error {
	if err := check(ctx, key); err != nil {
		return err
	}
	fi, err := s.root.Lstat(key)
	if isAbsent(err) || err == nil && fi.IsDir() {
		return nil
	}
	if err == nil {
		err = s.root.Remove(key)
	}
	if err != nil && !isAbsent(err) {
		return fmt.Errorf("objstore/file: delete %q: %w", key, err)
	}
	s.prune(path.Dir(key))
	return nil
}

func (s *Store) DeletePrefix(ctx context.Context, prefix string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := contract.ValidatePrefix(prefix); err != nil {
		return err
	}
	if dir, ok := strings.CutSuffix(prefix, "/"); ok {
		// The prefix names a whole directory: remove it whole, stray
		// temporary files too.
		fi, err := s.root.Lstat(dir)
		switch {
		case err == nil && fi.IsDir():
			if err := s.root.RemoveAll(dir); err != nil {
				return fmt.Errorf("objstore/file: delete-prefix %q: %w", prefix, err)
			}
			s.prune(path.Dir(dir))
			return nil
		case err != nil && !isAbsent(err):
			return fmt.Errorf("objstore/file: delete-prefix %q: %w", prefix, err)
		}
		return nil // absent, or not a directory: no key starts with prefix
	}
	err := s.walk(ctx, prefix, func(key string, d fs.DirEntry) (bool, error) {
		if !strings.HasPrefix(key, prefix) {
			return d.IsDir(), nil // a directory above the prefix: look inside
		}
		if d.IsDir() && strings.HasPrefix(key+"/", prefix) {
			// Entirely under the prefix: remove it whole, stray temporary files too.
			if err := s.root.RemoveAll(key); err != nil {
				return false, err
			}
			return false, nil
		}
		if err := s.root.Remove(key); err != nil && !isAbsent(err) {
			return false, err
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("objstore/file: delete-prefix %q: %w", prefix, err)
	}
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		s.prune(prefix[:i])
	}
	return nil
}

// prune removes dir and its ancestors below the root while they are empty,
// so deleted checkpoints leave no empty directories behind. Failing to
// remove one (not empty, or gone) ends it.
func (s *Store) prune(dir string) {
	for ; dir != "." && dir != "/"; dir = path.Dir(dir) {
		if err := s.root.Remove(dir); err != nil {
			return
		}
	}
}

// Close releases the directory handle.
func (s *Store) Close() error { return s.root.Close() }
