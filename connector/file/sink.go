package file

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/weirstream/weir/internal/invariant"
	"github.com/weirstream/weir/stream"
)

const (
	// DefaultMaxPartBytes is the part file size of a Sink whose
	// MaxPartBytes is 0.
	DefaultMaxPartBytes = 128 << 20
	// writeBufferSize is the buffer of a sink writer.
	writeBufferSize = 64 << 10
)

// The values of Sink.Mode.
const (
	// ModeNone publishes part files at the end of input; a failed attempt
	// publishes nothing. The empty Mode means ModeNone in a job without
	// checkpoints and ModeExactlyOnce in a job with them.
	ModeNone = "none"
	// ModeExactlyOnce pre-commits part files at every checkpoint barrier
	// and publishes them when the checkpoint completes (two-phase commit).
	ModeExactlyOnce = "exactly-once"
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
	// Mode is how part files are published: ModeNone at the end of input,
	// ModeExactlyOnce when the checkpoint that covers them completes. Empty
	// is ModeExactlyOnce whenever the job checkpoints, else ModeNone.
	// ModeExactlyOnce needs a job that checkpoints, and gives exactly-once
	// output when it checkpoints in EXACTLY_ONCE mode (at least once in
	// AT_LEAST_ONCE mode).
	Mode string `json:"mode,omitempty"`
}

var (
	_ stream.Sink[string]       = Sink{}
	_ stream.Validator          = Sink{}
	_ stream.SinkWriter[string] = (*writer)(nil)
	_ stream.Checkpointed       = (*writer)(nil)
	_ stream.CheckpointListener = (*writer)(nil)
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
	switch s.Mode {
	case "", ModeNone, ModeExactlyOnce:
	default:
		return fmt.Errorf("file sink: mode %q: want %q or %q", s.Mode, ModeNone, ModeExactlyOnce)
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
	w := &writer{
		dir:         dir,
		subtask:     ctx.SubtaskIndex,
		maxBytes:    s.MaxPartBytes,
		exactlyOnce: s.Mode == ModeExactlyOnce || (s.Mode == "" && ctx.Checkpointing != ""),
		logger:      ctx.Logger,
	}
	if w.maxBytes == 0 {
		w.maxBytes = DefaultMaxPartBytes
	}
	if w.logger == nil {
		w.logger = slog.Default()
	}
	return w, nil
}

// part is a closed part file that is not published yet.
type part struct {
	n int // the part number
	// checkpoint is, in exactly-once mode, the checkpoint whose barrier
	// pre-committed the file; 0 until the next barrier.
	checkpoint int64
	seq        int64 // in exactly-once mode, the file's number in syncs
}

// writer writes one subtask's part files. Only the task goroutine uses it,
// but for SyncSnapshot.
//
// The part files of subtask s are numbered n = 0, 1, ... and named
//
//	.part-<s>-<n>.inprogress  being written (the open part file), or closed
//	                          and waiting for Finish (without exactly-once)
//	.part-<s>-<n>.pending     closed and waiting for a checkpoint to
//	                          complete (exactly-once); synced before the
//	                          checkpoint is acknowledged
//	part-<s>-<n>              published
type writer struct {
	dir         string
	subtask     int
	maxBytes    int64
	exactlyOnce bool
	logger      *slog.Logger

	f      *os.File // the open part file, or nil
	bw     *bufio.Writer
	size   int64 // bytes written to f
	cur    int   // the number of the open part file
	inprog bool  // the in-progress file cur exists and is not closed yet
	next   int   // the number of the next part file; checkpointed
	// closed are the closed part files not published yet, in number
	// order, which is also checkpoint order.
	closed []part
	done   bool  // Finish ran
	err    error // a failed write, pre-commit or commit; sticky
	// syncs makes the pre-commits durable, in exactly-once mode; it is
	// the writer's only part used off the task goroutine.
	syncs syncer
}

func (w *writer) inProgressPath(subtask, n int) string {
	return filepath.Join(w.dir, fmt.Sprintf(".part-%d-%d.inprogress", subtask, n))
}

func (w *writer) pendingPath(subtask, n int) string {
	return filepath.Join(w.dir, fmt.Sprintf(".part-%d-%d.pending", subtask, n))
}

func (w *writer) visiblePath(subtask, n int) string {
	return filepath.Join(w.dir, fmt.Sprintf("part-%d-%d", subtask, n))
}

// closedPath is where part file p waits to be published.
func (w *writer) closedPath(p part) string {
	if w.exactlyOnce {
		return w.pendingPath(w.subtask, p.n)
	}
	return w.inProgressPath(w.subtask, p.n)
}

// fail makes err the writer's sticky error: after a failed write, sync or
// rename the files on disk no longer match what the writer believes, so it
// refuses further work and the task fails and restores. A failed
// SnapshotState needs this most: the task only declines the checkpoint and
// goes on writing.
func (w *writer) fail(err error) error {
	if w.err == nil {
		w.err = err
	}
	return err
}

// Write appends v and a newline to the current part file, rolling to a new
// part file first if v would make it exceed maxBytes.
func (w *writer) Write(v string) error {
	if w.err != nil {
		return w.err
	}
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
		return w.fail(fmt.Errorf("file sink: writing %q: %w", w.f.Name(), err))
	}
	w.size += n
	return nil
}

func (w *writer) openPart() error {
	name := w.inProgressPath(w.subtask, w.next)
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return w.fail(fmt.Errorf("file sink: %w", err))
	}
	w.cur, w.inprog = w.next, true
	w.next++
	w.f, w.size = f, 0
	if w.bw == nil {
		w.bw = bufio.NewWriterSize(f, writeBufferSize)
	} else {
		w.bw.Reset(f)
	}
	return nil
}

// closePart flushes the open part file and appends it to closed. Without
// exactly-once it syncs and closes it. In exactly-once mode it renames it
// to its pending name, for the next checkpoint barrier to pre-commit, and
// hands it over, still open, to be synced off the task goroutine
// (SyncSnapshot) before that checkpoint is acknowledged.
func (w *writer) closePart() error {
	if w.f == nil {
		return nil
	}
	f := w.f
	w.f = nil
	err := w.bw.Flush()
	if err == nil && !w.exactlyOnce {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		return w.fail(fmt.Errorf("file sink: writing %q: %w", f.Name(), err))
	}
	seq := int64(0)
	if w.exactlyOnce {
		if err := os.Rename(f.Name(), w.pendingPath(w.subtask, w.cur)); err != nil {
			f.Close()
			return w.fail(fmt.Errorf("file sink: %w", err))
		}
		seq = w.syncs.add(f)
	} else if err := f.Close(); err != nil {
		return w.fail(fmt.Errorf("file sink: writing %q: %w", f.Name(), err))
	}
	w.inprog = false
	w.closed = append(w.closed, part{n: w.cur, seq: seq})
	return nil
}

// Finish ends the output. Without exactly-once it makes the part files
// durable and visible. In exactly-once mode the runtime has taken a final
// checkpoint and committed it, so there is nothing left to publish; data
// that no checkpoint covered is an error, and is not published.
func (w *writer) Finish() error {
	if w.err != nil {
		return w.err
	}
	if w.done {
		return nil
	}
	if w.exactlyOnce {
		return w.finishExactlyOnce()
	}
	if err := w.closePart(); err != nil {
		return err
	}
	for len(w.closed) > 0 {
		n := w.closed[0].n
		if err := os.Rename(w.inProgressPath(w.subtask, n), w.visiblePath(w.subtask, n)); err != nil {
			return fmt.Errorf("file sink: publishing a part file: %w", err)
		}
		w.closed = w.closed[1:]
	}
	w.done = true
	return syncDir(w.dir)
}

func (w *writer) finishExactlyOnce() error {
	if err := w.check(); err != nil {
		return err
	}
	if w.f != nil {
		return fmt.Errorf("file sink: finishing with records in %q that no checkpoint covers; "+
			"mode %q needs a job that checkpoints and takes a final checkpoint at the end of input",
			w.f.Name(), ModeExactlyOnce)
	}
	if len(w.closed) > 0 {
		names := make([]string, len(w.closed))
		for i, p := range w.closed {
			names[i] = filepath.Base(w.closedPath(p))
		}
		return fmt.Errorf("file sink: finishing with part files %s whose checkpoints have not completed",
			strings.Join(names, ", "))
	}
	// The final checkpoint's files were published after its sync; no
	// checkpoint follows to make their names durable.
	if err := w.syncs.sync(w.dir); err != nil {
		return w.fail(err)
	}
	w.done = true
	return nil
}

// Close removes the part files that no restore can publish: the open part
// file, and those that Finish has not published (without exactly-once) or
// that no checkpoint barrier has pre-committed (exactly-once). Pre-committed
// files stay for a restore to publish or delete.
func (w *writer) Close() error {
	errs := []error{w.syncs.close()}
	if w.f != nil {
		errs = append(errs, w.f.Close())
		w.f = nil
	}
	if w.inprog {
		errs = append(errs, removeIfExists(w.inProgressPath(w.subtask, w.cur)))
		w.inprog = false
	}
	for _, p := range w.closed {
		if p.checkpoint == 0 {
			errs = append(errs, removeIfExists(w.closedPath(p)))
		}
	}
	w.closed = nil
	return errors.Join(errs...)
}

func removeIfExists(name string) error {
	if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("file sink: %w", err)
	}
	return nil
}

// SnapshotState pre-commits at the barrier of checkpoint id, in
// exactly-once mode: it closes the open part file and renames it to its
// pending name, and returns as state every pending file not published yet,
// with its checkpoint, and the next part number. SyncSnapshot then makes
// the files and their names durable, off the task goroutine: a completed
// checkpoint must find its files after a machine crash. Without
// exactly-once the writer keeps no state.
func (w *writer) SnapshotState(id int64) ([][]byte, error) {
	if !w.exactlyOnce {
		return nil, nil
	}
	if err := w.check(); err != nil {
		return nil, err
	}
	if err := w.closePart(); err != nil {
		return nil, err
	}
	for i := range w.closed {
		switch c := w.closed[i].checkpoint; {
		case c == 0:
			w.closed[i].checkpoint = id
		case c >= id:
			return nil, w.fail(invariant.Failf("file sink: checkpoint %d after checkpoint %d", id, c))
		}
	}
	elems := make([][]byte, 0, len(w.closed)+1)
	for _, p := range w.closed {
		elems = append(elems, appendPendingElement(nil, w.subtask, p.n, p.checkpoint))
	}
	return append(elems, appendCounterElement(nil, w.subtask, w.next)), nil
}

// SyncSnapshot makes durable, off the task goroutine, the part files that
// SnapshotState(id) and the barriers before it pre-committed, with their
// pending names, and the names of the files published since the last
// sync. A failed sync fails the writer: its next call on the task
// goroutine returns the error, and nothing is published after it.
func (w *writer) SyncSnapshot(id int64) error {
	if !w.exactlyOnce {
		return nil
	}
	return w.syncs.sync(w.dir)
}

var _ stream.SnapshotSyncer = (*writer)(nil)

// check returns the writer's sticky error, or a failed sync's.
func (w *writer) check() error {
	if w.err != nil {
		return w.err
	}
	if err := w.syncs.failed(); err != nil {
		return w.fail(err)
	}
	return nil
}

// NotifyCheckpointComplete publishes the pending files of checkpoint id and
// earlier checkpoints. The renames are made durable by the next
// checkpoint's SyncSnapshot, before that checkpoint, whose state no longer
// lists them, can complete; until then a restore publishes them again from
// the state of checkpoint id.
func (w *writer) NotifyCheckpointComplete(id int64) error {
	if !w.exactlyOnce {
		return nil
	}
	if err := w.check(); err != nil {
		return err
	}
	published := false
	for len(w.closed) > 0 && w.closed[0].checkpoint != 0 && w.closed[0].checkpoint <= id {
		p := w.closed[0]
		ok, err := w.syncs.durable(p.seq)
		if err == nil && !ok {
			err = invariant.Failf("file sink: checkpoint %d completed before its part file %q was synced",
				p.checkpoint, filepath.Base(w.pendingPath(w.subtask, p.n)))
		}
		if err == nil {
			err = w.publish(w.subtask, p.n, p.checkpoint)
		}
		if err != nil {
			return w.fail(err)
		}
		w.closed = w.closed[1:]
		published = true
	}
	if published {
		w.syncs.renamed()
	}
	return nil
}

// publish renames pending file n of subtask to its visible name. A pending
// file that is missing but published already is fine: publishing is
// repeated after a failure between the rename and the checkpoint's
// acknowledgement by every listener.
func (w *writer) publish(subtask, n int, id int64) error {
	from, to := w.pendingPath(subtask, n), w.visiblePath(subtask, n)
	err := os.Rename(from, to)
	if err == nil {
		return nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(to); serr == nil {
			return nil
		}
		return fmt.Errorf("file sink: pending part file %q of checkpoint %d is missing, and %q does not exist",
			from, id, filepath.Base(to))
	}
	return fmt.Errorf("file sink: publishing checkpoint %d: %w", id, err)
}

// UnionRedistribution marks the sink's state as union-redistributed when
// the job resumes at another parallelism: every subtask sees every pending part file and publishes it (publishing twice is harmless).
func (w *writer) UnionRedistribution() {}

var _ stream.UnionRedistributed = (*writer)(nil)

// RestoreState resumes from the state of a checkpoint or savepoint: it
// publishes the pending files the state lists (their checkpoint
// completed, since the job resumes from it), deletes this subtask's
// in-progress files and the pending files numbered at or past the saved
// next part number (they belong to checkpoints that never completed), and
// numbers the next part files after every part file of this subtask left
// in the directory, so that it never overwrites a published one.
//
// Only leftovers of this subtask's index are deleted, and pending files
// only when the state has this subtask's part number; see the package
// documentation for what that means for rescaling.
func (w *writer) RestoreState(elems [][]byte) error {
	if w.f != nil || w.inprog || len(w.closed) > 0 || w.done {
		return invariant.Failf("file sink: state restored after the first record")
	}
	type listed struct {
		subtask, n int
		checkpoint int64
	}
	var pending []listed
	counter := -1 // this subtask's saved next part number; -1 if the state has none
	for i, e := range elems {
		kind, subtask, n, id, err := decodeElement(e)
		if err != nil {
			return fmt.Errorf("file sink: state element %d: %w", i, err)
		}
		switch {
		case kind == pendingElement:
			pending = append(pending, listed{subtask, n, id})
		case subtask == w.subtask:
			counter = max(counter, n)
		}
	}
	slices.SortFunc(pending, func(a, b listed) int {
		return cmp.Or(cmp.Compare(a.checkpoint, b.checkpoint), cmp.Compare(a.subtask, b.subtask), cmp.Compare(a.n, b.n))
	})
	for _, p := range pending {
		if err := w.publish(p.subtask, p.n, p.checkpoint); err != nil {
			return err
		}
	}
	if len(pending) > 0 {
		if err := syncDir(w.dir); err != nil {
			return err
		}
	}

	entries, err := os.ReadDir(w.dir)
	if err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	next, deleted := max(counter, 0), 0
	for _, e := range entries {
		subtask, n, kind, ok := parsePartName(e.Name())
		if !ok || subtask != w.subtask {
			continue
		}
		if kind == inProgressFile || (kind == pendingFile && counter >= 0 && n >= counter) {
			if err := removeIfExists(filepath.Join(w.dir, e.Name())); err != nil {
				return err
			}
			deleted++
			continue
		}
		next = max(next, n+1)
	}
	w.next = next
	w.logger.Info("file sink: restored", "subtask", w.subtask, "published", len(pending),
		"deleted", deleted, "next_part", next)
	if !w.exactlyOnce {
		w.logger.Warn("file sink: resuming from a checkpoint without mode " + ModeExactlyOnce +
			": the records the failed attempt wrote before the checkpoint are not in the output")
	}
	return nil
}

// fileKind is the state of a part file its name tells.
type fileKind int

const (
	inProgressFile fileKind = iota + 1
	pendingFile
	visibleFile
)

// parsePartName parses part-<s>-<n>, .part-<s>-<n>.inprogress and
// .part-<s>-<n>.pending.
func parsePartName(name string) (subtask, n int, kind fileKind, ok bool) {
	rest, hidden := strings.CutPrefix(name, ".")
	switch {
	case !hidden:
		kind = visibleFile
	case strings.HasSuffix(rest, ".inprogress"):
		kind, rest = inProgressFile, strings.TrimSuffix(rest, ".inprogress")
	case strings.HasSuffix(rest, ".pending"):
		kind, rest = pendingFile, strings.TrimSuffix(rest, ".pending")
	default:
		return 0, 0, 0, false
	}
	rest, ok = strings.CutPrefix(rest, "part-")
	if !ok {
		return 0, 0, 0, false
	}
	s, num, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, 0, 0, false
	}
	var err1, err2 error
	subtask, err1 = strconv.Atoi(s)
	n, err2 = strconv.Atoi(num)
	if err1 != nil || err2 != nil || subtask < 0 || n < 0 ||
		strconv.Itoa(subtask) != s || strconv.Itoa(n) != num { // no signs, no leading zeros
		return 0, 0, 0, false
	}
	return subtask, n, kind, true
}

// elementKind is the first byte of a state element.
type elementKind byte

const (
	// pendingElement is a pre-committed part file: uvarint subtask,
	// uvarint part number, uvarint checkpoint ID.
	pendingElement elementKind = iota + 1
	// counterElement is a subtask's next part number: uvarint subtask,
	// uvarint part number.
	counterElement
)

func appendPendingElement(b []byte, subtask, n int, id int64) []byte {
	b = append(b, byte(pendingElement))
	b = binary.AppendUvarint(b, uint64(subtask))
	b = binary.AppendUvarint(b, uint64(n))
	return binary.AppendUvarint(b, uint64(id))
}

func appendCounterElement(b []byte, subtask, n int) []byte {
	b = append(b, byte(counterElement))
	b = binary.AppendUvarint(b, uint64(subtask))
	return binary.AppendUvarint(b, uint64(n))
}

// decodeElement decodes a state element; id is 0 for a counterElement.
func decodeElement(e []byte) (kind elementKind, subtask, n int, id int64, err error) {
	if len(e) == 0 {
		return 0, 0, 0, 0, errors.New("empty")
	}
	kind, e = elementKind(e[0]), e[1:]
	var fields int
	switch kind {
	case pendingElement:
		fields = 3
	case counterElement:
		fields = 2
	default:
		return 0, 0, 0, 0, fmt.Errorf("unknown kind %d", kind)
	}
	var v [3]uint64
	for i := range fields {
		x, w := binary.Uvarint(e)
		if w <= 0 || x > 1<<62 {
			return 0, 0, 0, 0, errors.New("corrupt")
		}
		v[i], e = x, e[w:]
	}
	if len(e) != 0 || kind == pendingElement && v[2] == 0 {
		return 0, 0, 0, 0, errors.New("corrupt")
	}
	return kind, int(v[0]), int(v[1]), int64(v[2]), nil
}
