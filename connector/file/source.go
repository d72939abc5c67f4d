package file

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/weirstream/weir/connector/internal/pace"
	"github.com/weirstream/weir/stream"
)

const (
	// maxBatch and maxBatchBytes bound what one PollNext emits.
	maxBatch      = 1024
	maxBatchBytes = 1 << 20
	// readBufferSize is the buffer of a source reader.
	readBufferSize = 64 << 10
	// keepLineBuffer is the largest line buffer a reader keeps between lines.
	keepLineBuffer = 1 << 20
)

func init() {
	stream.RegisterSource[string]("weir.file.source", Source{})
	stream.RegisterSink[string]("weir.file.sink", Sink{})
}

// Source reads the lines of a file, or of the files of a directory. It is
// bounded. Its fields are the job parameters.
type Source struct {
	// Path is a local path or file:// URI naming a file or a directory.
	Path string `json:"path"`
	// Rate is the lines per second across all subtasks; 0 is
	// unthrottled. Each subtask reads Rate/parallelism lines a second.
	Rate float64 `json:"rate,omitempty"`
}

var (
	_ stream.Checkpointed         = (*reader)(nil)
	_ stream.Source[string]       = Source{}
	_ stream.Validator            = Source{}
	_ stream.SourceReader[string] = (*reader)(nil)
)

// inputFile is a file the source reads.
type inputFile struct {
	path string
	size int64
}

// Validate checks Rate and that Path exists and its files can be opened.
func (s Source) Validate() error {
	if err := s.validateRate(); err != nil {
		return err
	}
	files, err := s.list()
	if err != nil {
		return err
	}
	for _, f := range files {
		fh, err := os.Open(f.path)
		if err != nil {
			return s.pathError(err)
		}
		fh.Close()
	}
	return nil
}

func (s Source) validateRate() error {
	if math.IsNaN(s.Rate) || math.IsInf(s.Rate, 0) {
		return fmt.Errorf("file source: rate %v must be a finite number", s.Rate)
	}
	if s.Rate < 0 {
		return fmt.Errorf("file source: rate %v must be >= 0", s.Rate)
	}
	return nil
}

// pathError wraps an error about Path. An *fs.PathError about Path itself
// is unwrapped, since the message names the path already.
func (s Source) pathError(err error) error {
	var pe *fs.PathError
	if p, _ := localPath(s.Path); errors.As(err, &pe) && pe.Path == p {
		err = pe.Err
	}
	return fmt.Errorf("file source: path %q: %w", s.Path, err)
}

// list returns the files the source reads, in order.
func (s Source) list() ([]inputFile, error) {
	p, err := localPath(s.Path)
	if err != nil {
		return nil, s.pathError(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		return nil, s.pathError(err)
	}
	if fi.Mode().IsRegular() {
		return []inputFile{{path: p, size: fi.Size()}}, nil
	}
	if !fi.IsDir() {
		return nil, s.pathError(errors.New("not a regular file or directory"))
	}
	entries, err := os.ReadDir(p) // sorted by name
	if err != nil {
		return nil, s.pathError(err)
	}
	var files []inputFile
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
			continue
		}
		full := filepath.Join(p, name)
		fi, err := os.Stat(full) // follows symbolic links
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed since ReadDir, or a dangling link
		}
		if err != nil {
			return nil, s.pathError(err)
		}
		if fi.Mode().IsRegular() {
			files = append(files, inputFile{path: full, size: fi.Size()})
		}
	}
	return files, nil
}

// split is the part of one file a subtask reads: the lines that start in
// the byte range [start, end).
type split struct {
	path       string
	start, end int64
}

// splitFor returns the splits of subtask i of p: the lines starting in its
// byte range of the concatenated files.
func splitFor(files []inputFile, i, p int) []split {
	var total int64
	for _, f := range files {
		total += f.size
	}
	lo, hi := boundary(total, i, p), boundary(total, i+1, p)
	var splits []split
	var off int64 // offset of f in the concatenation
	for _, f := range files {
		if start, end := max(lo, off)-off, min(hi, off+f.size)-off; start < end {
			splits = append(splits, split{path: f.path, start: start, end: end})
		}
		off += f.size
	}
	return splits
}

// boundary returns floor(total*i/p) without overflowing.
func boundary(total int64, i, p int) int64 {
	q, r := total/int64(p), total%int64(p)
	return q*int64(i) + r*int64(i)/int64(p)
}

// CreateReader lists the input and returns the reader of subtask
// ctx.SubtaskIndex.
func (s Source) CreateReader(ctx *stream.SourceContext) (stream.SourceReader[string], error) {
	if err := s.validateRate(); err != nil {
		return nil, err
	}
	files, err := s.list()
	if err != nil {
		return nil, err
	}
	p := max(ctx.Parallelism, 1)
	if ctx.SubtaskIndex < 0 || ctx.SubtaskIndex >= p {
		return nil, fmt.Errorf("file source: subtask %d out of range for parallelism %d", ctx.SubtaskIndex, p)
	}
	r := &reader{splits: splitFor(files, ctx.SubtaskIndex, p), idle: make(chan struct{})}
	if s.Rate > 0 {
		if ctx.Clock == nil {
			return nil, fmt.Errorf("file source: rate %v needs a clock in the task info", s.Rate)
		}
		r.pacer = pace.New(ctx.Clock, s.Rate/float64(p))
	}
	return r, nil
}

// reader reads one subtask's splits in order. Only the task goroutine uses
// it. PollNext reads from disk, which may take a while but does not wait on
// anything else.
type reader struct {
	splits  []split // left to read; splits[0] is open if f != nil
	f       *os.File
	br      *bufio.Reader
	pos     int64  // offset in f of the next byte br returns
	line    []byte // holds a line longer than br's buffer
	emitted int64  // lines emitted so far

	pacer *pace.Pacer   // nil if unthrottled
	idle  chan struct{} // Available of an unthrottled reader, never ready
}

func (r *reader) PollNext(out stream.Collector[string]) (stream.PollStatus, error) {
	var now time.Time
	if r.pacer != nil {
		now = r.pacer.Now()
	}
	for n, size := 0, 0; n < maxBatch && size < maxBatchBytes; {
		if len(r.splits) == 0 {
			return stream.PollEnd, nil
		}
		if r.f == nil {
			if err := r.open(); err != nil {
				return stream.PollEnd, err
			}
		}
		if r.pos >= r.splits[0].end {
			r.next()
			continue
		}
		if r.pacer != nil && !r.pacer.Ready(r.emitted, now) {
			return stream.PollIdle, nil
		}
		line, err := r.readLine()
		if err != nil && err != io.EOF {
			return stream.PollEnd, fmt.Errorf("file source: reading %q: %w", r.splits[0].path, err)
		}
		if err == io.EOF && len(line) == 0 {
			r.next() // the file is shorter than it was when listed
			continue
		}
		out.Collect(string(trimEOL(line)))
		r.emitted++
		n++
		size += len(line)
	}
	return stream.PollMore, nil
}

// SnapshotState saves the splits left to read, the current one from the
// start of its next line: one element per split, so the splits can be
// redistributed when the job resumes at another parallelism.
func (r *reader) SnapshotState(int64) ([][]byte, error) {
	out := make([][]byte, 0, len(r.splits))
	for i, sp := range r.splits {
		if i == 0 && r.f != nil {
			sp.start = r.pos
		}
		b := binary.AppendUvarint(nil, uint64(len(sp.path)))
		b = append(b, sp.path...)
		b = binary.AppendVarint(b, sp.start)
		out = append(out, binary.AppendVarint(b, sp.end))
	}
	return out, nil
}

// RestoreState resumes reading the saved splits.
func (r *reader) RestoreState(elems [][]byte) error {
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
	r.splits = r.splits[:0]
	for _, e := range elems {
		n, w := binary.Uvarint(e)
		if w <= 0 || n > uint64(len(e)-w) {
			return errors.New("file source: corrupt split state")
		}
		sp := split{path: string(e[w : w+int(n)])}
		e = e[w+int(n):]
		var w1, w2 int
		sp.start, w1 = binary.Varint(e)
		if w1 > 0 {
			sp.end, w2 = binary.Varint(e[w1:])
		}
		if w1 <= 0 || w2 <= 0 || sp.start < 0 || sp.end < sp.start {
			return errors.New("file source: corrupt split state")
		}
		r.splits = append(r.splits, sp)
	}
	return nil
}

// open opens splits[0] and positions the reader at its first line.
func (r *reader) open() error {
	sp := r.splits[0]
	f, err := os.Open(sp.path)
	if err != nil {
		return fmt.Errorf("file source: %w", err)
	}
	r.f = f
	r.pos = 0
	if sp.start > 0 {
		// The split's first line starts after the first '\n' at or
		// after start-1.
		if _, err := f.Seek(sp.start-1, io.SeekStart); err != nil {
			return fmt.Errorf("file source: %w", err)
		}
		r.pos = sp.start - 1
	}
	if r.br == nil {
		r.br = bufio.NewReaderSize(f, readBufferSize)
	} else {
		r.br.Reset(f)
	}
	if sp.start > 0 {
		for {
			chunk, err := r.br.ReadSlice('\n')
			r.pos += int64(len(chunk))
			if err == bufio.ErrBufferFull {
				continue
			}
			if err != nil && err != io.EOF {
				return fmt.Errorf("file source: reading %q: %w", sp.path, err)
			}
			break
		}
	}
	return nil
}

// next closes the current split and moves to the next.
func (r *reader) next() {
	r.f.Close() // read-only: nothing to lose
	r.f = nil
	r.splits = r.splits[1:]
}

// readLine returns the next line, with its line ending. The line is valid
// until the next call. At the end of the file it returns io.EOF and the
// last line if that has no line ending.
func (r *reader) readLine() ([]byte, error) {
	chunk, err := r.br.ReadSlice('\n')
	r.pos += int64(len(chunk))
	if err != bufio.ErrBufferFull {
		return chunk, err // the common case: the line fits in the buffer
	}
	if cap(r.line) > keepLineBuffer {
		r.line = nil
	}
	r.line = append(r.line[:0], chunk...)
	for err == bufio.ErrBufferFull {
		chunk, err = r.br.ReadSlice('\n')
		r.pos += int64(len(chunk))
		r.line = append(r.line, chunk...)
	}
	return r.line, err
}

// trimEOL removes a trailing "\n" or "\r\n".
func trimEOL(line []byte) []byte {
	if l, ok := bytes.CutSuffix(line, []byte("\n")); ok {
		return bytes.TrimSuffix(l, []byte("\r"))
	}
	return line
}

// Available fires when a throttled reader's next line is due. An
// unthrottled reader is never idle.
func (r *reader) Available() <-chan struct{} {
	if r.pacer != nil {
		return r.pacer.Available()
	}
	return r.idle
}

func (r *reader) Close() error {
	if r.pacer != nil {
		r.pacer.Close()
	}
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
	r.splits = nil
	return nil
}
