package security

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"
)

// fileStamp identifies one version of a file: a rewrite or a rename over it
// changes at least one field.
type fileStamp struct {
	mod   time.Time
	size  int64
	inode uint64
}

func stampOf(fi os.FileInfo) fileStamp {
	s := fileStamp{mod: fi.ModTime(), size: fi.Size()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.inode = st.Ino
	}
	return s
}

// maxFileSize bounds what is read from a certificate, key, CA or tokens
// file: these are small, and a bound keeps a wrong path (a device, a huge
// file) from exhausting memory.
const maxFileSize = 1 << 20

// readSmall reads path, refusing files larger than maxFileSize.
func readSmall(path string) ([]byte, fileStamp, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fileStamp{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fileStamp{}, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fileStamp{}, fmt.Errorf("%s: not a regular file", path)
	}
	if fi.Size() > maxFileSize {
		return nil, fileStamp{}, fmt.Errorf("%s: %d bytes, more than the %d a credentials file may have", path, fi.Size(), maxFileSize)
	}
	b := make([]byte, fi.Size())
	n, err := f.ReadAt(b, 0)
	if err != nil && !(errors.Is(err, io.EOF) && n == len(b)) {
		return nil, fileStamp{}, err
	}
	return b[:n], stampOf(fi), nil
}

// stamp returns the current stamp of path.
func stamp(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return stampOf(fi), nil
}
