package file_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/weirstream/weir/internal/checkpoint/objstore"
	"github.com/weirstream/weir/internal/checkpoint/objstore/file"
	"github.com/weirstream/weir/internal/checkpoint/objstore/objstoretest"
)

func open(t *testing.T, dir string) *file.Store {
	t.Helper()
	s, err := file.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Store {
		s, err := file.Open(filepath.Join(t.TempDir(), "store"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestOpenNeedsAbsolutePath(t *testing.T) {
	if _, err := file.Open("relative/dir"); err == nil || !strings.Contains(err.Error(), `"relative/dir"`) {
		t.Fatalf("Open(relative) = %v, want an error naming the path", err)
	}
}

// files lists every file and directory under dir, relative to it.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var got []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			rel, _ := filepath.Rel(dir, p)
			if d.IsDir() {
				rel += "/"
			}
			got = append(got, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestLayout pins the on-disk form: one file per key, no temporary files
// left behind, and no empty directories after deletes.
func TestLayout(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s := open(t, dir)
	for _, k := range []string{"j/chk-1/a", "j/chk-1/b", "j/chk-2/a"} {
		if err := s.Put(ctx, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutIfAbsent(ctx, "j/chk-1/_metadata", []byte("m")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutIfAbsent(ctx, "j/chk-1/_metadata", []byte("m2")); !errors.Is(err, objstore.ErrExist) {
		t.Fatal(err)
	}
	want := []string{"j/", "j/chk-1/", "j/chk-1/_metadata", "j/chk-1/a", "j/chk-1/b", "j/chk-2/", "j/chk-2/a"}
	if got := files(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files = %q, want %q", got, want)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "j/chk-1/_metadata")); err != nil || string(b) != "m" {
		t.Fatalf("j/chk-1/_metadata holds %q, %v", b, err)
	}

	if err := s.Delete(ctx, "j/chk-2/a"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeletePrefix(ctx, "j/chk-1/"); err != nil {
		t.Fatal(err)
	}
	if got := files(t, dir); len(got) != 0 {
		t.Fatalf("after deleting everything, files = %q, want none", got)
	}
}

// TestTemporaryFilesAreInvisible: a crashed Put's temporary file is not an
// object, and DeletePrefix removes it with its directory.
func TestTemporaryFilesAreInvisible(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s := open(t, dir)
	if err := s.Put(ctx, "chk-1/a", []byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "chk-1", ".tmp-0123456789abcdef"), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := s.List(ctx, ""); err != nil || !slices.Equal(got, []string{"chk-1/a"}) {
		t.Fatalf("List = %q, %v; want only chk-1/a", got, err)
	}
	if err := s.DeletePrefix(ctx, "chk-1/"); err != nil {
		t.Fatal(err)
	}
	if got := files(t, dir); len(got) != 0 {
		t.Fatalf("after DeletePrefix, files = %q, want none", got)
	}
}

// TestSymlinksCannotEscape plants symbolic links to outside the store and
// checks that nothing reads, writes, lists or deletes through them.
func TestSymlinksCannotEscape(t *testing.T) {
	ctx := t.Context()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("outside"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "dirlink")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "filelink")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../"+filepath.Base(outside), filepath.Join(dir, "rellink")); err != nil {
		t.Fatal(err)
	}
	s := open(t, dir)

	for _, key := range []string{"dirlink/secret", "filelink", "rellink/secret"} {
		if body, err := s.Get(ctx, key); err == nil {
			t.Errorf("Get(%q) read %q from outside the store", key, body)
		}
	}
	for _, key := range []string{"dirlink/new", "rellink/new"} {
		if err := s.Put(ctx, key, []byte("x")); err == nil {
			t.Errorf("Put(%q) succeeded through a link out of the store", key)
		}
		if err := s.PutIfAbsent(ctx, key, []byte("x")); err == nil {
			t.Errorf("PutIfAbsent(%q) succeeded through a link out of the store", key)
		}
	}
	if got, err := s.List(ctx, ""); err != nil || len(got) != 0 {
		t.Errorf("List = %q, %v; want nothing: links are not objects", got, err)
	}
	_ = s.Delete(ctx, "dirlink/secret")
	_ = s.DeletePrefix(ctx, "dirlink/")
	_ = s.DeletePrefix(ctx, "")
	if got := files(t, outside); !slices.Equal(got, []string{"secret"}) {
		t.Fatalf("outside the store: %q, want only the untouched secret", got)
	}
	if b, err := os.ReadFile(filepath.Join(outside, "secret")); err != nil || string(b) != "outside" {
		t.Fatalf("outside file now %q, %v", b, err)
	}
}

// TestKeyAndDirectoryConflict: in a file system "a" cannot hold an object
// and be the directory of "a/b"; the store says so instead of corrupting.
func TestKeyAndDirectoryConflict(t *testing.T) {
	ctx := t.Context()
	s := open(t, t.TempDir())
	if err := s.Put(ctx, "a/b", []byte("b")); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"Put":         s.Put(ctx, "a", []byte("a")),
		"PutIfAbsent": s.PutIfAbsent(ctx, "a", []byte("a")),
	} {
		if err == nil || errors.Is(err, objstore.ErrExist) || !strings.Contains(err.Error(), "directory of other keys") {
			t.Errorf("%s over a directory = %v, want an error explaining the conflict", name, err)
		}
	}
	if err := s.Put(ctx, "a/b/c", []byte("c")); err == nil || !strings.Contains(err.Error(), "directory of other keys") {
		t.Errorf("Put under an object = %v, want an error explaining the conflict", err)
	}
	if got, err := s.Get(ctx, "a/b"); err != nil || string(got) != "b" {
		t.Fatalf("a/b = %q, %v", got, err)
	}
}

// TestPutIfAbsentAcrossStores races PutIfAbsent from separate Store values
// on one directory, as separate processes would: exactly one wins.
func TestPutIfAbsentAcrossStores(t *testing.T) {
	dir := t.TempDir()
	const racers = 8
	stores := make([]*file.Store, racers)
	for i := range stores {
		stores[i] = open(t, dir)
	}
	for round := range 20 {
		key := "chk-" + strings.Repeat("x", round+1) + "/_metadata"
		var wg sync.WaitGroup
		errs := make([]error, racers)
		for i, s := range stores {
			wg.Go(func() { errs[i] = s.PutIfAbsent(t.Context(), key, []byte{byte(i)}) })
		}
		wg.Wait()
		wins := 0
		for _, err := range errs {
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, objstore.ErrExist):
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if wins != 1 {
			t.Fatalf("round %d: %d winners, want 1", round, wins)
		}
	}
}

// TestPutFileLinksOrCopies: on the store's file system PutFile links the
// file in, so the object is the file's own bytes; where linking fails it
// copies them. Either way no temporary file is left behind.
func TestPutFileLinksOrCopies(t *testing.T) {
	dir := t.TempDir()
	s := open(t, filepath.Join(dir, "store"))
	body := []byte("an immutable SST")
	src := filepath.Join(dir, "000042.sst")
	if err := os.WriteFile(src, body, 0o644); err != nil {
		t.Fatal(err)
	}
	sameFile := func(key string) bool {
		t.Helper()
		a, err := os.Stat(src)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.Stat(filepath.Join(s.Dir(), key))
		if err != nil {
			t.Fatal(err)
		}
		return os.SameFile(a, b)
	}
	if err := s.PutFile(t.Context(), "job/shared/linked", src); err != nil {
		t.Fatal(err)
	}
	if !sameFile("job/shared/linked") {
		t.Error("PutFile on the store's file system copied the file; want it linked")
	}

	restore := file.RefuseLinks(syscall.EXDEV)
	err := s.PutFile(t.Context(), "job/shared/copied", src)
	restore()
	if err != nil {
		t.Fatal(err)
	}
	if sameFile("job/shared/copied") {
		t.Error("PutFile linked the file although linking failed")
	}
	for _, key := range []string{"job/shared/linked", "job/shared/copied"} {
		got, err := s.Get(t.Context(), key)
		if err != nil || string(got) != string(body) {
			t.Fatalf("Get(%q) = %q, %v; want %q", key, got, err, body)
		}
	}
	var left []string
	err = filepath.WalkDir(s.Dir(), func(p string, d os.DirEntry, err error) error {
		if strings.HasPrefix(d.Name(), ".tmp-") {
			left = append(left, p)
		}
		return err
	})
	if err != nil || len(left) > 0 {
		t.Fatalf("temporary files left: %v (%v)", left, err)
	}
}

// TestPutFileWhileDeletesPrune: a linked file waits in the top directory
// while Delete prunes the emptied directory of its key; PutFile creates
// the directory again and lands.
func TestPutFileWhileDeletesPrune(t *testing.T) {
	dir := t.TempDir()
	s := open(t, filepath.Join(dir, "store"))
	src := filepath.Join(dir, "000007.sst")
	if err := os.WriteFile(src, []byte("sst"), 0o644); err != nil {
		t.Fatal(err)
	}
	const n = 200
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := s.Put(t.Context(), "job/shared/churn", []byte("x")); err != nil {
				t.Error(err)
				return
			}
			if err := s.Delete(t.Context(), "job/shared/churn"); err != nil {
				t.Error(err)
				return
			}
		}
	})
	var keys []string
	for i := range n {
		key := "job/shared/obj-" + strconv.Itoa(i)
		if err := s.PutFile(t.Context(), key, src); err != nil {
			t.Errorf("PutFile(%q): %v", key, err)
		}
		keys = append(keys, key)
		// Remove it again, so that the churn's Delete finds the directory
		// empty and prunes it.
		if err := s.Delete(t.Context(), key); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	final := "job/shared/last"
	if err := s.PutFile(t.Context(), final, src); err != nil {
		t.Fatal(err)
	}
	if got, err := s.List(t.Context(), "job/"); err != nil || !slices.Equal(got, []string{final}) {
		t.Fatalf("List = %v, %v; want only %s (%d PutFiles)", got, err, final, len(keys))
	}
}
