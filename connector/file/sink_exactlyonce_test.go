package file

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// eoWriter returns an exactly-once writer for subtask i of p.
func eoWriter(t *testing.T, dir string, maxPartBytes int64, i, p int) *writer {
	t.Helper()
	return newWriter(t, Sink{Path: dir, MaxPartBytes: maxPartBytes, Mode: ModeExactlyOnce}, i, p).(*writer)
}

// restored returns an exactly-once writer for subtask i of p resumed from
// state.
func restored(t *testing.T, dir string, maxPartBytes int64, i, p int, state [][]byte) *writer {
	t.Helper()
	w := eoWriter(t, dir, maxPartBytes, i, p)
	if err := w.RestoreState(state); err != nil {
		t.Fatal(err)
	}
	return w
}

// snapshot takes w's part of checkpoint id as a task does: SnapshotState
// at the barrier, then SyncSnapshot before the acknowledgement.
func snapshot(t *testing.T, w *writer, id int64) [][]byte {
	t.Helper()
	state, err := w.SnapshotState(id)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.SyncSnapshot(id); err != nil {
		t.Fatal(err)
	}
	return state
}

func notify(t *testing.T, w *writer, id int64) {
	t.Helper()
	if err := w.NotifyCheckpointComplete(id); err != nil {
		t.Fatal(err)
	}
}

// crash drops w the way a killed process does: no Close, nothing removed.
func crash(w *writer) {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	w.syncs.close()
}

// visibleLines returns the lines of subtask's visible part files in part
// number order (every subtask if subtask < 0).
func visibleLines(t *testing.T, dir string, subtask int) []string {
	t.Helper()
	type file struct{ subtask, n int }
	var files []file
	visible, _ := listDir(t, dir)
	for _, name := range visible {
		s, n, kind, ok := parsePartName(name)
		if !ok || kind != visibleFile {
			t.Fatalf("unexpected file %q", name)
		}
		if subtask < 0 || s == subtask {
			files = append(files, file{s, n})
		}
	}
	slices.SortFunc(files, func(a, b file) int { return cmp.Or(cmp.Compare(a.subtask, b.subtask), cmp.Compare(a.n, b.n)) })
	var lines []string
	for _, f := range files {
		data := readFile(t, filepath.Join(dir, fmt.Sprintf("part-%d-%d", f.subtask, f.n)))
		if data == "" || !strings.HasSuffix(data, "\n") {
			t.Fatalf("part-%d-%d = %q: want complete lines", f.subtask, f.n, data)
		}
		lines = append(lines, strings.Split(strings.TrimSuffix(data, "\n"), "\n")...)
	}
	return lines
}

func checkVisible(t *testing.T, dir string, want ...string) {
	t.Helper()
	if got := visibleLines(t, dir, -1); !slices.Equal(got, want) {
		t.Fatalf("visible lines %q, want %q", got, want)
	}
}

func checkHidden(t *testing.T, dir string, want ...string) {
	t.Helper()
	if _, hidden := listDir(t, dir); !slices.Equal(hidden, want) {
		t.Fatalf("hidden files %q, want %q", hidden, want)
	}
}

func TestExactlyOnceVisibleOnlyAfterCheckpointCompletes(t *testing.T) {
	dir := t.TempDir()
	w := eoWriter(t, dir, 0, 2, 3)
	write(t, w, "a", "b")
	snapshot(t, w, 1)
	checkHidden(t, dir, ".part-2-0.pending")
	checkVisible(t, dir)
	if got := readAll(t, Source{Path: dir}, 1); len(got[0]) != 0 {
		t.Fatalf("a file source read %q before the checkpoint completed", got[0])
	}
	write(t, w, "c")
	checkHidden(t, dir, ".part-2-0.pending", ".part-2-1.inprogress")

	notify(t, w, 1)
	checkVisible(t, dir, "a", "b")
	checkHidden(t, dir, ".part-2-1.inprogress")

	write(t, w, "d")
	snapshot(t, w, 2)
	checkVisible(t, dir, "a", "b")
	checkHidden(t, dir, ".part-2-1.pending")
	notify(t, w, 2)
	checkVisible(t, dir, "a", "b", "c", "d")

	// A barrier with nothing new pre-commits nothing.
	state := snapshot(t, w, 3)
	notify(t, w, 3)
	checkHidden(t, dir)
	if want := [][]byte{appendCounterElement(nil, 2, 2)}; !slices.EqualFunc(state, want, slices.Equal) {
		t.Fatalf("state %x, want only the counter %x", state, want)
	}
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	checkVisible(t, dir, "a", "b", "c", "d")
	checkHidden(t, dir)
}

// failAfterCheckpoint2 writes a and b before barrier 1, c before barrier 2
// and d after it, and crashes before checkpoint 2 completes. It returns the
// states of checkpoints 1 and 2.
func failAfterCheckpoint2(t *testing.T, dir string) (state1, state2 [][]byte) {
	w := eoWriter(t, dir, 0, 0, 1)
	write(t, w, "a", "b")
	state1 = snapshot(t, w, 1)
	write(t, w, "c")
	state2 = snapshot(t, w, 2)
	notify(t, w, 1)
	write(t, w, "d")
	crash(w)
	checkVisible(t, dir, "a", "b")
	checkHidden(t, dir, ".part-0-1.pending", ".part-0-2.inprogress")
	return state1, state2
}

func TestExactlyOnceRestore(t *testing.T) {
	t.Run("checkpoint 2", func(t *testing.T) {
		dir := t.TempDir()
		_, state2 := failAfterCheckpoint2(t, dir)
		w := restored(t, dir, 0, 0, 1, state2)
		checkVisible(t, dir, "a", "b", "c")
		checkHidden(t, dir) // the in-progress file with d is gone
		write(t, w, "d2")
		checkHidden(t, dir, ".part-0-2.inprogress")
		snapshot(t, w, 3)
		notify(t, w, 3)
		checkVisible(t, dir, "a", "b", "c", "d2")
	})
	t.Run("checkpoint 1", func(t *testing.T) {
		dir := t.TempDir()
		state1, _ := failAfterCheckpoint2(t, dir)
		// Checkpoint 1 is published already; restoring it publishes it
		// again (a no-op) and deletes checkpoint 2's pending file.
		w := restored(t, dir, 0, 0, 1, state1)
		checkVisible(t, dir, "a", "b")
		checkHidden(t, dir)
		// The replayed records get new part numbers.
		write(t, w, "c2")
		snapshot(t, w, 3)
		notify(t, w, 3)
		checkVisible(t, dir, "a", "b", "c2")
		if visible, _ := listDir(t, dir); !slices.Equal(visible, []string{"part-0-0", "part-0-1"}) {
			t.Fatalf("visible files %q", visible)
		}
	})
	t.Run("checkpoint 1 never notified", func(t *testing.T) {
		dir := t.TempDir()
		w := eoWriter(t, dir, 0, 0, 1)
		write(t, w, "a", "b")
		state1 := snapshot(t, w, 1)
		write(t, w, "c")
		snapshot(t, w, 2)
		write(t, w, "d")
		if err := w.Close(); err != nil { // a cancelled attempt
			t.Fatal(err)
		}
		checkVisible(t, dir)
		checkHidden(t, dir, ".part-0-0.pending", ".part-0-1.pending")
		restored(t, dir, 0, 0, 1, state1)
		checkVisible(t, dir, "a", "b")
		checkHidden(t, dir)
	})
}

func TestExactlyOnceNotifyIsIdempotentAndCumulative(t *testing.T) {
	dir := t.TempDir()
	w := eoWriter(t, dir, 0, 0, 1)
	write(t, w, "a")
	snapshot(t, w, 1)
	notify(t, w, 1)
	notify(t, w, 1)
	checkVisible(t, dir, "a")
	write(t, w, "b")
	snapshot(t, w, 2)
	write(t, w, "c")
	snapshot(t, w, 3)
	write(t, w, "d")
	snapshot(t, w, 4)
	notify(t, w, 1) // stale
	checkVisible(t, dir, "a")
	notify(t, w, 3) // checkpoint 2's notification was lost
	checkVisible(t, dir, "a", "b", "c")
	checkHidden(t, dir, ".part-0-3.pending")
	notify(t, w, 3)
	notify(t, w, 2)
	checkVisible(t, dir, "a", "b", "c")
	notify(t, w, 4)
	checkVisible(t, dir, "a", "b", "c", "d")
}

func TestExactlyOnceRestorePublishedOrMissing(t *testing.T) {
	dir := t.TempDir()
	w := eoWriter(t, dir, 0, 1, 2)
	write(t, w, "a")
	state := snapshot(t, w, 7)
	notify(t, w, 7)
	crash(w)
	// The pending file was published before the failure.
	w = restored(t, dir, 0, 1, 2, state)
	checkVisible(t, dir, "a")
	checkHidden(t, dir)
	crash(w)

	// The pending file and its visible name are both gone.
	if err := os.Remove(filepath.Join(dir, "part-1-0")); err != nil {
		t.Fatal(err)
	}
	w = eoWriter(t, dir, 0, 1, 2)
	err := w.RestoreState(state)
	want := `file sink: pending part file "` + filepath.Join(dir, ".part-1-0.pending") +
		`" of checkpoint 7 is missing, and "part-1-0" does not exist`
	if err == nil || err.Error() != want {
		t.Fatalf("RestoreState = %v, want %q", err, want)
	}
}

func TestExactlyOnceRestoreCorruptState(t *testing.T) {
	for _, e := range [][]byte{
		{},
		{9, 0, 0},
		{byte(counterElement), 0},
		{byte(counterElement), 0, 0, 0},
		{byte(pendingElement), 0, 0, 0}, // checkpoint 0
		{byte(pendingElement), 0, 0, 0x80},
	} {
		w := eoWriter(t, t.TempDir(), 0, 0, 1)
		if err := w.RestoreState([][]byte{appendCounterElement(nil, 0, 1), e}); err == nil ||
			!strings.HasPrefix(err.Error(), "file sink: state element 1: ") {
			t.Errorf("RestoreState(%x) = %v, want an error naming element 1", e, err)
		}
	}
}

func TestExactlyOnceRolls(t *testing.T) {
	dir := t.TempDir()
	w := eoWriter(t, dir, 10, 0, 1)
	write(t, w, "aaaa", "bbbb", "cccc") // part 0 rolls before cccc
	checkHidden(t, dir, ".part-0-0.pending", ".part-0-1.inprogress")
	state1 := snapshot(t, w, 1)
	checkHidden(t, dir, ".part-0-0.pending", ".part-0-1.pending")
	write(t, w, "dddd", "eeee", "ffff", "gg")
	// Part 2 rolled: it belongs to checkpoint 2, not 1.
	checkHidden(t, dir, ".part-0-0.pending", ".part-0-1.pending", ".part-0-2.pending", ".part-0-3.inprogress")
	notify(t, w, 1)
	checkVisible(t, dir, "aaaa", "bbbb", "cccc")
	checkHidden(t, dir, ".part-0-2.pending", ".part-0-3.inprogress")

	// Closed before checkpoint 2: the rolled parts no barrier covered go too.
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	checkHidden(t, dir)
	restored(t, dir, 10, 0, 1, state1)
	checkVisible(t, dir, "aaaa", "bbbb", "cccc")

	// Rolled parts a crash leaves behind are deleted by the restore.
	dir = t.TempDir()
	w = eoWriter(t, dir, 10, 0, 1)
	write(t, w, "aaaa", "bbbb", "cccc")
	state1 = snapshot(t, w, 1)
	write(t, w, "dddd", "eeee", "ffff")
	state2 := snapshot(t, w, 2)
	write(t, w, "gggg", "hhhh", "iiii")
	crash(w)
	checkHidden(t, dir, ".part-0-0.pending", ".part-0-1.pending", ".part-0-2.pending", ".part-0-3.pending", ".part-0-4.pending", ".part-0-5.inprogress")
	w = restored(t, dir, 10, 0, 1, state2)
	checkVisible(t, dir, "aaaa", "bbbb", "cccc", "dddd", "eeee", "ffff")
	checkHidden(t, dir)
	if len(state1) != 3 || len(state2) != 5 { // pending files and the counter
		t.Fatalf("states have %d and %d elements", len(state1), len(state2))
	}
	if w.next != 4 {
		t.Fatalf("next part %d, want 4", w.next)
	}
}

func TestExactlyOnceFinish(t *testing.T) {
	dir := t.TempDir()
	w := eoWriter(t, dir, 0, 0, 1)
	write(t, w, "a")
	snapshot(t, w, 1)
	notify(t, w, 1)
	write(t, w, "b")
	err := w.Finish()
	if err == nil || !strings.Contains(err.Error(), `records in "`+filepath.Join(dir, ".part-0-1.inprogress")+`" that no checkpoint covers`) {
		t.Fatalf("Finish with records after the last barrier = %v", err)
	}
	snapshot(t, w, 2)
	err = w.Finish()
	if err == nil || err.Error() != "file sink: finishing with part files .part-0-1.pending whose checkpoints have not completed" {
		t.Fatalf("Finish before the last checkpoint completed = %v", err)
	}
	checkVisible(t, dir, "a")
	notify(t, w, 2)
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := w.Write("late"); err == nil {
		t.Error("Write after Finish succeeded")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	checkVisible(t, dir, "a", "b")
	checkHidden(t, dir)
}

func TestExactlyOnceCloseKeepsPreCommittedFiles(t *testing.T) {
	dir := t.TempDir()
	w := eoWriter(t, dir, 0, 0, 1)
	write(t, w, "a")
	state := snapshot(t, w, 1)
	write(t, w, "b")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	checkHidden(t, dir, ".part-0-0.pending")
	restored(t, dir, 0, 0, 1, state)
	checkVisible(t, dir, "a")
}

// TestNonExactlyOnceModesPublishAtFinish checks that "none" behaves as the
// empty mode always has: no checkpoint state, publishing at Finish.
func TestNonExactlyOnceModesPublishAtFinish(t *testing.T) {
	for _, mode := range []string{"", ModeNone} {
		dir := t.TempDir()
		w := newWriter(t, Sink{Path: dir, MaxPartBytes: 4, Mode: mode}, 0, 1).(*writer)
		write(t, w, "a", "b", "c")
		if state := snapshot(t, w, 1); state != nil {
			t.Fatalf("mode %q: state %x", mode, state)
		}
		notify(t, w, 1)
		checkVisible(t, dir)
		checkHidden(t, dir, ".part-0-0.inprogress", ".part-0-1.inprogress")
		if err := w.Finish(); err != nil {
			t.Fatal(err)
		}
		checkVisible(t, dir, "a", "b", "c")
		checkHidden(t, dir)
	}
}

// TestExactlyOnceRestoreHandedOtherSubtasksFiles is rescaling: the state
// of old subtask 1 (a pending file and its counter) goes to new subtask 0,
// while new subtask 1 gets nothing. Subtask 0 publishes subtask 1's file;
// subtask 1 deletes no pending file it cannot tell is garbage, and does not
// reuse a part number.
func TestExactlyOnceRestoreHandedOtherSubtasksFiles(t *testing.T) {
	dir := t.TempDir()
	w := eoWriter(t, dir, 0, 1, 2)
	write(t, w, "a")
	state := snapshot(t, w, 1)
	crash(w)

	w1 := restored(t, dir, 0, 1, 2, nil)
	checkHidden(t, dir, ".part-1-0.pending")
	restored(t, dir, 0, 0, 1, state)
	checkVisible(t, dir, "a")
	write(t, w1, "b")
	snapshot(t, w1, 2)
	notify(t, w1, 2)
	checkVisible(t, dir, "a", "b")
	if visible, _ := listDir(t, dir); !slices.Equal(visible, []string{"part-1-0", "part-1-1"}) {
		t.Fatalf("visible files %q", visible)
	}
}

func TestParsePartName(t *testing.T) {
	for _, tc := range []struct {
		name       string
		subtask, n int
		kind       fileKind
	}{
		{"part-0-0", 0, 0, visibleFile},
		{"part-12-345", 12, 345, visibleFile},
		{".part-3-4.inprogress", 3, 4, inProgressFile},
		{".part-3-4.pending", 3, 4, pendingFile},
		{"part-0-01", 0, 0, 0},
		{"part--1-0", 0, 0, 0},
		{"part-1-+2", 0, 0, 0},
		{".part-1-2", 0, 0, 0},
		{"part-1-2.pending", 0, 0, 0},
		{".part-1.pending", 0, 0, 0},
		{"_SUCCESS", 0, 0, 0},
	} {
		s, n, kind, ok := parsePartName(tc.name)
		if ok != (tc.kind != 0) || s != tc.subtask || n != tc.n || kind != tc.kind {
			t.Errorf("parsePartName(%q) = %d, %d, %d, %v", tc.name, s, n, kind, ok)
		}
	}
}

// TestExactlyOnceRandomFailures runs random sequences of writes, barriers,
// completions and crashes against two subtasks sharing a directory. A
// crash resumes from the latest completed checkpoint, or from the latest
// checkpoint taken (it completed, but the notification was lost), or from
// scratch if none completed. After every step the visible output of a
// subtask is exactly the records it wrote before the barrier of its latest
// committed checkpoint, in order: nothing before a completion, nothing
// twice, nothing lost.
func TestExactlyOnceRandomFailures(t *testing.T) {
	for seed := range uint64(200) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, 1))
			dir := t.TempDir()
			maxPart := int64(1 + rng.IntN(40))
			subtasks := []*model{newModel(t, dir, maxPart, 0), newModel(t, dir, maxPart, 1)}
			nextID := int64(1) // checkpoint IDs never repeat, across attempts too
			for range 60 {
				m := subtasks[rng.IntN(len(subtasks))]
				switch op := rng.IntN(10); {
				case op < 4:
					m.write(rng.IntN(6))
				case op < 6:
					m.snapshot(nextID)
					nextID++
				case op < 8:
					m.notify(rng)
				default:
					m.crash(rng)
				}
				for _, m := range subtasks {
					m.check()
				}
			}
			// The end: either a final checkpoint and Finish, or a crash.
			for _, m := range subtasks {
				if rng.IntN(2) == 0 {
					m.snapshot(nextID)
					m.notifyID(nextID)
					nextID++
					if err := m.w.Finish(); err != nil {
						t.Fatal(err)
					}
					if err := m.w.Close(); err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(m.committed(), m.records) {
						t.Fatalf("subtask %d: %d records committed after Finish, want all %d", m.subtask, len(m.committed()), len(m.records))
					}
				} else {
					m.crash(rng)
				}
				m.check()
			}
		})
	}
}

// model drives one subtask's writer and tracks what its output must be.
type model struct {
	t        *testing.T
	dir      string
	maxPart  int64
	subtask  int
	w        *writer
	seq      int      // numbers records uniquely across attempts
	records  []string // the records of the current history
	barriers []barrier
	done     int64 // the latest checkpoint known complete; 0 for none
}

// barrier is a checkpoint taken in the current history.
type barrier struct {
	id      int64
	records int // records written before the barrier
	state   [][]byte
}

func newModel(t *testing.T, dir string, maxPart int64, subtask int) *model {
	return &model{t: t, dir: dir, maxPart: maxPart, subtask: subtask, w: eoWriter(t, dir, maxPart, subtask, 2)}
}

func (m *model) write(n int) {
	for range n {
		r := fmt.Sprintf("s%d-r%d", m.subtask, m.seq)
		m.seq++
		write(m.t, m.w, r)
		m.records = append(m.records, r)
	}
}

func (m *model) snapshot(id int64) {
	m.barriers = append(m.barriers, barrier{id: id, records: len(m.records), state: snapshot(m.t, m.w, id)})
}

// notify completes a random checkpoint taken after the last completed one,
// or repeats the last completion.
func (m *model) notify(rng *rand.Rand) {
	var open []int64
	for _, b := range m.barriers {
		if b.id > m.done {
			open = append(open, b.id)
		}
	}
	if len(open) == 0 || rng.IntN(5) == 0 {
		if m.done > 0 {
			notify(m.t, m.w, m.done)
		}
		return
	}
	m.notifyID(open[rng.IntN(len(open))])
}

func (m *model) notifyID(id int64) {
	notify(m.t, m.w, id)
	m.done = id
}

// crash fails the writer (killed, or closed as after a cancellation) and
// resumes.
func (m *model) crash(rng *rand.Rand) {
	if rng.IntN(2) == 0 {
		crash(m.w)
	} else if err := m.w.Close(); err != nil {
		m.t.Fatal(err)
	}
	from := m.done
	if len(m.barriers) > 0 && rng.IntN(2) == 0 {
		from = m.barriers[len(m.barriers)-1].id // complete, notification lost
	}
	m.w = eoWriter(m.t, m.dir, m.maxPart, m.subtask, 2)
	if from == 0 {
		m.records, m.barriers = nil, nil // no checkpoint completed: start over
		return
	}
	i := slices.IndexFunc(m.barriers, func(b barrier) bool { return b.id == from })
	b := m.barriers[i]
	if err := m.w.RestoreState(b.state); err != nil {
		m.t.Fatal(err)
	}
	m.records, m.barriers, m.done = m.records[:b.records], []barrier{b}, from
}

// committed is the part of the history the output must hold.
func (m *model) committed() []string {
	for _, b := range m.barriers {
		if b.id == m.done {
			return m.records[:b.records]
		}
	}
	return nil
}

func (m *model) check() {
	m.t.Helper()
	if got, want := visibleLines(m.t, m.dir, m.subtask), m.committed(); !slices.Equal(got, want) {
		m.t.Fatalf("subtask %d: visible %q, want %q", m.subtask, got, want)
	}
}

// The barrier's pre-commit leaves the syncs to SyncSnapshot, which runs off
// the task goroutine before the checkpoint is acknowledged: SnapshotState
// hands over the part files it closes, and a checkpoint that completes
// without its sync is refused rather than published unsynced.
func TestExactlyOnceSyncsAfterTheBarrier(t *testing.T) {
	dir := t.TempDir()
	w := eoWriter(t, dir, 2, 0, 1)
	write(t, w, "a", "b", "c") // a file each
	if _, err := w.SnapshotState(1); err != nil {
		t.Fatal(err)
	}
	checkHidden(t, dir, ".part-0-0.pending", ".part-0-1.pending", ".part-0-2.pending")
	if n, synced := len(w.syncs.files), w.syncs.synced; n != 3 || synced != 0 || !w.syncs.dirty {
		t.Fatalf("after the barrier %d files to sync, %d synced, directory to sync %v; want 3, 0, true",
			n, synced, w.syncs.dirty)
	}
	func() {
		defer func() {
			if r := recover(); r != nil && !strings.Contains(fmt.Sprint(r), "before its part file") {
				panic(r)
			}
		}()
		err := w.NotifyCheckpointComplete(1)
		if err == nil || !strings.Contains(err.Error(), `checkpoint 1 completed before its part file ".part-0-0.pending" was synced`) {
			t.Fatalf("notify before the sync: %v", err)
		}
	}()
}

// SyncSnapshot syncs what every barrier before it closed, while the task
// goes on writing and rolling files: each checkpoint's files are published
// once its sync has returned, and all of them in the end.
func TestExactlyOnceSyncsConcurrentlyWithWrites(t *testing.T) {
	dir := t.TempDir()
	w := eoWriter(t, dir, 16, 0, 1)
	var want []string
	synced := make(chan error, 1)
	for id := int64(1); id <= 20; id++ {
		for i := range 10 {
			v := fmt.Sprintf("record %d.%d", id, i)
			write(t, w, v)
			want = append(want, v)
		}
		if _, err := w.SnapshotState(id); err != nil {
			t.Fatal(err)
		}
		go func() { synced <- w.SyncSnapshot(id) }()
		write(t, w, fmt.Sprintf("record %d.after", id)) // written while syncing
		want = append(want, fmt.Sprintf("record %d.after", id))
		if err := <-synced; err != nil {
			t.Fatal(err)
		}
		notify(t, w, id)
	}
	snapshot(t, w, 21)
	notify(t, w, 21)
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	checkVisible(t, dir, want...)
	checkHidden(t, dir)
}

// A failed sync declines its checkpoint and fails the writer: nothing is
// published after it, and the next call on the task goroutine says why.
func TestExactlyOnceFailedSyncFailsTheWriter(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "out")
	w := eoWriter(t, dir, 0, 0, 1)
	write(t, w, "a")
	if _, err := w.SnapshotState(1); err != nil {
		t.Fatal(err)
	}
	// The directory goes before the sync: the files still sync through
	// their open descriptors, the directory does not.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	err := w.SyncSnapshot(1)
	if err == nil || !strings.Contains(err.Error(), "file sink") {
		t.Fatalf("sync without its directory: %v, want the file sink's error", err)
	}
	if err2 := w.SyncSnapshot(1); err2 == nil || err2.Error() != err.Error() {
		t.Fatalf("a second sync: %v, want the first failure again", err2)
	}
	if nerr := w.NotifyCheckpointComplete(1); nerr == nil || nerr.Error() != err.Error() {
		t.Fatalf("notify after a failed sync: %v, want %v", nerr, err)
	}
	if _, serr := w.SnapshotState(2); serr == nil || serr.Error() != err.Error() {
		t.Fatalf("the next barrier after a failed sync: %v, want %v", serr, err)
	}
	if err := w.Close(); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
}
