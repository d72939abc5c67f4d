package file

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/weirstream/weir/stream"
)

const (
	// DefaultMaxPartBytes is the part file size of a Sink whose
	// MaxPartBytes is 0.
	DefaultMaxPartBytes = 128 << 20
	// writeBufferSize is the buffer of a sink writer.
	writeBufferSize = 64 << 10
)

// Sink writes records as lines into part files in a directory. Its fields
// are the job parameters.
type Sink struct {
	// Path is a local path or file:// URI of the directory, created if
	// missing.
	Path string `json:"path"`
	// MaxPartBytes is the size at which a subtask starts a new part file;
	// 0 means DefaultMaxPartBytes. A record longer than this gets a part
	// file of its own.
	MaxPartBytes int64 `json:"max_part_bytes,omitempty"`
}

var (
	_ stream.Sink[string]       = Sink{}
	_ stream.Validator          = Sink{}
	_ stream.SinkWriter[string] = (*writer)(nil)
)

// Validate checks the parameters and that Path is not a file.
func (s Sink) Validate() error {
	p, err := localPath(s.Path)
	if err != nil {
		return fmt.Errorf("file sink: path %q: %w", s.Path, err)
	}
	if s.MaxPartBytes < 0 {
		return fmt.Errorf("file sink: max_part_bytes %d must be >= 0", s.MaxPartBytes)
	}
	if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
		return fmt.Errorf("file sink: path %q: not a directory", s.Path)
	}
	return nil
}

// CreateWriter creates the directory and returns the writer of subtask
// ctx.SubtaskIndex.
func (s Sink) CreateWriter(ctx *stream.SinkContext) (stream.SinkWriter[string], error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	dir, _ := localPath(s.Path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("file sink: %w", err)
	}
	w := &writer{dir: dir, subtask: ctx.SubtaskIndex, maxBytes: s.MaxPartBytes}
	if w.maxBytes == 0 {
		w.maxBytes = DefaultMaxPartBytes
	}
	return w, nil
}

// writer writes one subtask's part files. Only the task goroutine uses it.
type writer struct {
	dir      string
	subtask  int
	maxBytes int64

	f       *os.File // the open part file, or nil
	bw      *bufio.Writer
	size    int64 // bytes written to f
	next    int   // the number of the next part file
	pending []int // numbers of the hidden part files, oldest first
	done    bool  // Finish published the part files
}

func (w *writer) hidden(n int) string {
	return filepath.Join(w.dir, fmt.Sprintf(".part-%d-%d.inprogress", w.subtask, n))
}

func (w *writer) visible(n int) string {
	return filepath.Join(w.dir, fmt.Sprintf("part-%d-%d", w.subtask, n))
}

// Write appends v and a newline to the current part file, rolling to a new
// part file first if v would make it exceed maxBytes.
func (w *writer) Write(v string) error {
	if w.done {
		return errors.New("file sink: write after finish")
	}
	n := int64(len(v)) + 1
	if w.f != nil && w.size > 0 && w.size+n > w.maxBytes {
		if err := w.closePart(); err != nil {
			return err
		}
	}
	if w.f == nil {
		if err := w.openPart(); err != nil {
			return err
		}
	}
	w.bw.WriteString(v)
	if err := w.bw.WriteByte('\n'); err != nil { // bufio keeps the first error
		return fmt.Errorf("file sink: writing %q: %w", w.f.Name(), err)
	}
	w.size += n
	return nil
}

func (w *writer) openPart() error {
	name := w.hidden(w.next)
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	w.pending = append(w.pending, w.next)
	w.next++
	w.f, w.size = f, 0
	if w.bw == nil {
		w.bw = bufio.NewWriterSize(f, writeBufferSize)
	} else {
		w.bw.Reset(f)
	}
	return nil
}

// closePart flushes, syncs and closes the current part file.
func (w *writer) closePart() error {
	if w.f == nil {
		return nil
	}
	f := w.f
	w.f = nil
	err := w.bw.Flush()
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("file sink: writing %q: %w", f.Name(), err)
	}
	return nil
}

// Finish makes the part files durable and visible.
func (w *writer) Finish() error {
	if w.done {
		return nil
	}
	if err := w.closePart(); err != nil {
		return err
	}
	for len(w.pending) > 0 {
		n := w.pending[0]
		if err := os.Rename(w.hidden(n), w.visible(n)); err != nil {
			return fmt.Errorf("file sink: publishing a part file: %w", err)
		}
		w.pending = w.pending[1:]
	}
	w.done = true
	// Make the renames durable.
	d, err := os.Open(w.dir)
	if err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("file sink: syncing %q: %w", w.dir, err)
	}
	return nil
}

// Close removes the part files Finish has not published.
func (w *writer) Close() error {
	var errs []error
	if w.f != nil {
		errs = append(errs, w.f.Close())
		w.f = nil
	}
	for _, n := range w.pending {
		if err := os.Remove(w.hidden(n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("file sink: %w", err))
		}
	}
	w.pending = nil
	return errors.Join(errs...)
}
