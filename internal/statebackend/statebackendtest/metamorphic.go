package statebackendtest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/statebackend"
)

// MetamorphicOps is the number of operations one Metamorphic run applies.
const MetamorphicOps = 400

// Metamorphic applies one random sequence of operations, drawn from seed, to
// a backend made by newA and one made by newB, and fails at the first
// result on which they differ: Register's outcome, Get, MapGet, the entries
// MapRange visits (compared as sorted sets) and where it stops, and the
// contents of snapshots (decoded and compared as sets, since the format
// leaves the order of entries open).
//
// Keys, user keys and key groups come from small pools, tricky ones
// included, so operations keep meeting the state of earlier ones. Now and
// then both backends are snapshotted and replaced by fresh ones restored
// from the snapshots — crosswise, half of the time, so each backend reads
// the other's output — for the same key-group range or a narrower one. A
// backend that is a statebackend.AsyncSnapshotter also takes asynchronous
// snapshots, encoded or discarded operations later, which must hold the
// state at their capture.
// Each backend is also checked on its own for the KeyedBackend rule that a
// returned slice stays intact until the next mutating call.
//
// newA and newB follow the rules of Run's newBackend. A failure names the
// seed and the operations that led to it.
func Metamorphic(t *testing.T, seed int64, newA, newB func(t *testing.T, r keygroup.Range) statebackend.KeyedBackend) {
	t.Helper()
	m := &metamorphic{
		t:     t,
		seed:  seed,
		rng:   rand.New(rand.NewPCG(uint64(seed), 0x5eed)),
		newA:  newA,
		newB:  newB,
		r:     keygroup.Range{Start: 8, End: 40},
		kinds: map[string]statebackend.Kind{},
	}
	m.a = m.open(newA, m.r)
	m.b = m.open(newB, m.r)
	m.ids = [2]map[string]statebackend.StateID{{}, {}}
	for range 1 + m.rng.IntN(3) {
		m.register(false)
	}
	for m.op = 0; m.op < MetamorphicOps; m.op++ {
		m.step()
	}
	m.encodeCaptures()
	m.snapshots()
}

type metamorphic struct {
	t          *testing.T
	seed       int64
	rng        *rand.Rand
	newA, newB func(t *testing.T, r keygroup.Range) statebackend.KeyedBackend

	r    keygroup.Range
	a, b *openBackend
	// ids holds the StateIDs of a and of b, by name; declared lists the
	// names in the order they were first registered, kinds their kinds.
	ids      [2]map[string]statebackend.StateID
	declared []string
	kinds    map[string]statebackend.Kind

	key    string
	kg     int
	hasKey bool

	// captures are the snapshots SnapshotAsync took and nobody encoded
	// or discarded yet.
	captures []capture

	op  int
	log []string
}

// capture is a snapshot from SnapshotAsync, with the entries it must hold.
type capture struct {
	which string // "A" or "B"
	snap  statebackend.CapturedSnapshot
	want  []string
}

// openBackend is a backend the harness closes exactly once.
type openBackend struct {
	statebackend.KeyedBackend
	closed bool
}

func (m *metamorphic) open(newBackend func(t *testing.T, r keygroup.Range) statebackend.KeyedBackend, r keygroup.Range) *openBackend {
	ob := &openBackend{KeyedBackend: newBackend(m.t, r)}
	m.t.Cleanup(func() {
		if !ob.closed {
			ob.closed = true
			if err := ob.Close(); err != nil {
				m.t.Errorf("Close: %v", err)
			}
		}
	})
	return ob
}

func (m *metamorphic) close(ob *openBackend) {
	ob.closed = true
	if err := ob.Close(); err != nil {
		m.fatalf("Close: %v", err)
	}
}

// statePool are the names states may have; the first letter gives the kind.
var statePool = []string{"v0", "v1", "l0", "l1", "m0", "m1"}

func kindOf(name string) statebackend.Kind {
	switch name[0] {
	case 'v':
		return statebackend.KindValue
	case 'l':
		return statebackend.KindList
	}
	return statebackend.KindMap
}

func (m *metamorphic) logf(format string, args ...any) {
	m.log = append(m.log, fmt.Sprintf("%4d ", m.op)+fmt.Sprintf(format, args...))
}

func (m *metamorphic) fatalf(format string, args ...any) {
	m.t.Helper()
	from := max(0, len(m.log)-40)
	m.t.Fatalf("seed %d, operation %d: %s\nthe last operations, A = %T, B = %T:\n%s",
		m.seed, m.op, fmt.Sprintf(format, args...), m.a.KeyedBackend, m.b.KeyedBackend, strings.Join(m.log[from:], "\n"))
}

// step applies one random operation.
func (m *metamorphic) step() {
	if !m.hasKey {
		m.setKey()
		return
	}
	switch n := m.rng.IntN(100); {
	case n < 14:
		m.setKey()
	case n < 28:
		m.get()
	case n < 40:
		m.put()
	case n < 48:
		m.appendElem()
	case n < 53:
		m.delete()
	case n < 63:
		m.mapGet()
	case n < 75:
		m.mapPut()
	case n < 80:
		m.mapDelete()
	case n < 86:
		m.mapRange()
	case n < 88:
		m.mapRangeStop()
	case n < 92:
		m.holdReturned()
	case n < 93:
		m.captureOrEncode()
	case n < 97:
		m.register(m.rng.IntN(4) == 0)
	case n < 99:
		m.empty()
	default:
		m.snapshotRestore()
	}
}

// register declares a state, or with mismatch declares a declared one with
// another kind, which both must refuse.
func (m *metamorphic) register(mismatch bool) {
	name := statePool[m.rng.IntN(len(statePool))]
	kind := kindOf(name)
	if mismatch {
		if len(m.declared) == 0 {
			return
		}
		name = m.declared[m.rng.IntN(len(m.declared))]
		// One of the two other kinds.
		kind = statebackend.Kind((int(m.kinds[name])+m.rng.IntN(2))%3 + 1)
	}
	m.logf("Register(%q, %s)", name, kind)
	idA, errA := m.a.Register(name, kind)
	idB, errB := m.b.Register(name, kind)
	if mismatch {
		if !errors.Is(errA, statebackend.ErrKindMismatch) || !errors.Is(errB, statebackend.ErrKindMismatch) {
			m.fatalf("Register(%q, %s) of a %s state: A %v, B %v; want ErrKindMismatch from both", name, kind, m.kinds[name], errA, errB)
		}
		return
	}
	if errA != nil || errB != nil {
		m.fatalf("Register(%q, %s): A %v, B %v", name, kind, errA, errB)
	}
	if _, ok := m.kinds[name]; !ok {
		m.declared = append(m.declared, name)
		m.kinds[name] = kind
	}
	for i, id := range []statebackend.StateID{idA, idB} {
		if old, ok := m.ids[i][name]; ok && old != id {
			m.fatalf("Register(%q) again = %d on backend %c; it was %d", name, id, "AB"[i], old)
		}
		m.ids[i][name] = id
	}
}

// state picks a declared state of one of kinds, or reports there is none.
func (m *metamorphic) state(kinds ...statebackend.Kind) (name string, a, b statebackend.StateID, ok bool) {
	var names []string
	for _, n := range m.declared {
		if slices.Contains(kinds, m.kinds[n]) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return "", 0, 0, false
	}
	name = names[m.rng.IntN(len(names))]
	return name, m.ids[0][name], m.ids[1][name], true
}

var metamorphicKeys = append(trickyKeys(), "key-0", "key-1", "key-2", "key-3", "key-4", "key-5", "a longer key, to vary lengths")

func (m *metamorphic) setKey() {
	m.key = metamorphicKeys[m.rng.IntN(len(metamorphicKeys))]
	switch m.rng.IntN(4) {
	case 0:
		m.kg = m.r.Start
	case 1:
		m.kg = m.r.End - 1
	default:
		m.kg = m.r.Start + m.rng.IntN(m.r.Len())
	}
	m.hasKey = true
	m.logf("SetCurrentKey(%q, %d)", m.key, m.kg)
	m.a.SetCurrentKey([]byte(m.key), m.kg)
	m.b.SetCurrentKey([]byte(m.key), m.kg)
}

func (m *metamorphic) userKey() []byte {
	if m.rng.IntN(3) == 0 {
		k := trickyKeys()
		return []byte(k[m.rng.IntN(len(k))])
	}
	return fmt.Appendf(nil, "uk%d", m.rng.IntN(12))
}

// value returns random bytes, mostly short, now and then empty or a few KiB.
func (m *metamorphic) value() []byte {
	var n int
	switch p := m.rng.IntN(100); {
	case p < 5:
		return nil
	case p < 10:
		return []byte{}
	case p < 75:
		n = m.rng.IntN(17)
	case p < 97:
		n = 17 + m.rng.IntN(200)
	default:
		n = 1000 + m.rng.IntN(4000)
	}
	v := make([]byte, n)
	for i := range v {
		v[i] = byte(m.rng.Uint32())
	}
	return v
}

func (m *metamorphic) get() {
	name, a, b, ok := m.state(statebackend.KindValue, statebackend.KindList)
	if !ok {
		return
	}
	m.logf("Get(%s)", name)
	va, okA := m.a.Get(a)
	vb, okB := m.b.Get(b)
	if okA != okB || !bytes.Equal(va, vb) {
		m.fatalf("Get(%s): A %q, %v; B %q, %v", name, va, okA, vb, okB)
	}
}

func (m *metamorphic) put() {
	name, a, b, ok := m.state(statebackend.KindValue, statebackend.KindList)
	if !ok {
		return
	}
	var v []byte
	if m.kinds[name] == statebackend.KindList {
		v = []byte{}
		for range m.rng.IntN(4) {
			v = statebackend.AppendListElement(v, m.value())
		}
	} else {
		v = m.value()
	}
	m.logf("Put(%s, %d bytes)", name, len(v))
	// The caller's buffer is scribbled over after each call: a backend must
	// copy what it keeps.
	for _, call := range []func([]byte){func(v []byte) { m.a.Put(a, v) }, func(v []byte) { m.b.Put(b, v) }} {
		buf := slices.Clone(v)
		call(buf)
		for i := range buf {
			buf[i] ^= 0xA5
		}
	}
}

func (m *metamorphic) appendElem() {
	name, a, b, ok := m.state(statebackend.KindList)
	if !ok {
		return
	}
	e := m.value()
	m.logf("Append(%s, %d bytes)", name, len(e))
	m.a.Append(a, e)
	m.b.Append(b, e)
}

func (m *metamorphic) delete() {
	name, a, b, ok := m.state(statebackend.KindValue, statebackend.KindList, statebackend.KindMap)
	if !ok {
		return
	}
	m.logf("Delete(%s)", name)
	m.a.Delete(a)
	m.b.Delete(b)
}

func (m *metamorphic) mapGet() {
	name, a, b, ok := m.state(statebackend.KindMap)
	if !ok {
		return
	}
	uk := m.userKey()
	m.logf("MapGet(%s, %q)", name, uk)
	va, okA := m.a.MapGet(a, uk)
	vb, okB := m.b.MapGet(b, uk)
	if okA != okB || !bytes.Equal(va, vb) {
		m.fatalf("MapGet(%s, %q): A %q, %v; B %q, %v", name, uk, va, okA, vb, okB)
	}
}

func (m *metamorphic) mapPut() {
	name, a, b, ok := m.state(statebackend.KindMap)
	if !ok {
		return
	}
	uk, v := m.userKey(), m.value()
	m.logf("MapPut(%s, %q, %d bytes)", name, uk, len(v))
	m.a.MapPut(a, uk, v)
	m.b.MapPut(b, uk, v)
}

func (m *metamorphic) mapDelete() {
	name, a, b, ok := m.state(statebackend.KindMap)
	if !ok {
		return
	}
	uk := m.userKey()
	m.logf("MapDelete(%s, %q)", name, uk)
	m.a.MapDelete(a, uk)
	m.b.MapDelete(b, uk)
}

// MapEntries returns what MapRange visits, as sorted "userKey=value"
// strings.
func MapEntries(b statebackend.KeyedBackend, s statebackend.StateID) []string {
	var out []string
	b.MapRange(s, func(uk, v []byte) bool {
		out = append(out, fmt.Sprintf("%q=%q", uk, v))
		return true
	})
	slices.Sort(out)
	return out
}

func (m *metamorphic) mapRange() {
	name, a, b, ok := m.state(statebackend.KindMap)
	if !ok {
		return
	}
	m.logf("MapRange(%s)", name)
	ea, eb := MapEntries(m.a, a), MapEntries(m.b, b)
	if !slices.Equal(ea, eb) {
		m.fatalf("MapRange(%s):\nA %q\nB %q", name, ea, eb)
	}
	if n := len(slices.Compact(slices.Clone(ea))); n != len(ea) {
		m.fatalf("MapRange(%s) visited an entry twice: %q", name, ea)
	}
}

// mapRangeStop stops MapRange after stop calls: both must call fn
// min(stop, entries) times.
func (m *metamorphic) mapRangeStop() {
	name, a, b, ok := m.state(statebackend.KindMap)
	if !ok {
		return
	}
	stop := 1 + m.rng.IntN(3)
	m.logf("MapRange(%s) stopping after %d", name, stop)
	count := func(kb statebackend.KeyedBackend, s statebackend.StateID) int {
		n := 0
		kb.MapRange(s, func(_, _ []byte) bool { n++; return n < stop })
		return n
	}
	if na, nb := count(m.a, a), count(m.b, b); na != nb {
		m.fatalf("MapRange(%s) stopping after %d: A called fn %d times, B %d", name, stop, na, nb)
	}
}

// holdReturned checks, on each backend alone, that a value returned by Get
// or MapGet survives further reads: only a mutating call may end it.
func (m *metamorphic) holdReturned() {
	m.logf("hold a returned value across reads")
	for i, kb := range []statebackend.KeyedBackend{m.a, m.b} {
		ids := m.ids[i]
		var held [][]byte
		var copies [][]byte
		for _, name := range m.declared {
			var v []byte
			var ok bool
			if m.kinds[name] == statebackend.KindMap {
				v, ok = kb.MapGet(ids[name], []byte("uk0"))
				kb.MapRange(ids[name], func(_, _ []byte) bool { return true })
			} else {
				v, ok = kb.Get(ids[name])
			}
			if ok {
				held = append(held, v)
				copies = append(copies, slices.Clone(v))
			}
		}
		for j := range held {
			if !bytes.Equal(held[j], copies[j]) {
				m.fatalf("backend %c: a value returned by a read changed to %q by later reads; it was %q", "AB"[i], held[j], copies[j])
			}
		}
	}
}

// empty checks that absent and empty values stay apart after a round of
// puts of empty values.
func (m *metamorphic) empty() {
	name, a, b, ok := m.state(statebackend.KindValue)
	if !ok {
		return
	}
	m.logf("Put(%s, empty) then Get", name)
	m.a.Put(a, []byte{})
	m.b.Put(b, nil)
	va, okA := m.a.Get(a)
	vb, okB := m.b.Get(b)
	if !okA || !okB || len(va) != 0 || len(vb) != 0 {
		m.fatalf("Get(%s) after an empty Put: A %q, %v; B %q, %v", name, va, okA, vb, okB)
	}
}

// snapshots takes a snapshot of each backend, checks that they hold the
// same entries, and returns them.
func (m *metamorphic) snapshots() (snapA, snapB []byte) {
	m.logf("Snapshot")
	snapA, errA := m.a.Snapshot()
	snapB, errB := m.b.Snapshot()
	if errA != nil || errB != nil {
		m.fatalf("Snapshot: A %v, B %v", errA, errB)
	}
	ea, eb := m.decode("A", snapA), m.decode("B", snapB)
	if !slices.Equal(ea, eb) {
		var onlyA, onlyB []string
		for _, e := range ea {
			if _, found := slices.BinarySearch(eb, e); !found {
				onlyA = append(onlyA, e)
			}
		}
		for _, e := range eb {
			if _, found := slices.BinarySearch(ea, e); !found {
				onlyB = append(onlyB, e)
			}
		}
		m.fatalf("snapshots differ: %d entries in A, %d in B\nonly in A: %q\nonly in B: %q", len(ea), len(eb), onlyA, onlyB)
	}
	return snapA, snapB
}

// decode returns the entries of a snapshot as sorted strings that name the
// state, so backends may number states differently. Entries outside the
// current range, or twice over, fail.
func (m *metamorphic) decode(which string, snap []byte) []string {
	var descs []statebackend.StateDesc
	var out []string
	err := statebackend.DecodeSnapshot(snap, func(d []statebackend.StateDesc) error {
		descs = d
		for _, s := range d {
			if k, ok := m.kinds[s.Name]; !ok || k != s.Kind {
				return fmt.Errorf("the snapshot declares %s state %q, which was not registered so", s.Kind, s.Name)
			}
		}
		return nil
	}, func(e statebackend.Entry) error {
		if !m.r.Contains(e.KeyGroup) {
			return fmt.Errorf("an entry of key group %d, outside %s", e.KeyGroup, m.r)
		}
		out = append(out, fmt.Sprintf("%s kg=%d key=%q uk=%q value=%q", descs[e.State].Name, e.KeyGroup, e.Key, e.UserKey, e.Value))
		return nil
	})
	if err != nil {
		m.fatalf("snapshot of %s: %v", which, err)
	}
	slices.Sort(out)
	if n := len(slices.Compact(slices.Clone(out))); n != len(out) {
		m.fatalf("snapshot of %s holds %d duplicate entries", which, len(out)-n)
	}
	return out
}

// captureOrEncode takes an asynchronous snapshot of each backend that is
// an AsyncSnapshotter, holding what the synchronous snapshots hold now, or
// encodes or discards one taken earlier: snapshots stay in flight across
// other operations, several at once.
func (m *metamorphic) captureOrEncode() {
	if len(m.captures) > 0 && m.rng.IntN(2) == 0 {
		i := m.rng.IntN(len(m.captures))
		c := m.captures[i]
		m.captures = slices.Delete(m.captures, i, i+1)
		if m.rng.IntN(4) == 0 {
			m.logf("discard a captured snapshot of %s", c.which)
			c.snap.Discard()
			return
		}
		m.encodeCapture(c)
		return
	}
	snapA, snapB := m.snapshots()
	for i, kb := range []statebackend.KeyedBackend{m.a.KeyedBackend, m.b.KeyedBackend} {
		a, ok := kb.(statebackend.AsyncSnapshotter)
		if !ok {
			continue
		}
		which := string("AB"[i])
		m.logf("SnapshotAsync of %s", which)
		m.captures = append(m.captures, capture{which: which, snap: a.SnapshotAsync(), want: m.decode(which, [][]byte{snapA, snapB}[i])})
	}
}

// encodeCapture encodes a captured snapshot and checks that it holds the
// state at its capture.
func (m *metamorphic) encodeCapture(c capture) {
	m.logf("encode a captured snapshot of %s", c.which)
	snap, err := c.snap.AppendEncoded(nil)
	if err != nil {
		m.fatalf("encoding a captured snapshot of %s: %v", c.which, err)
	}
	if got := m.decode(c.which, snap); !slices.Equal(got, c.want) {
		m.fatalf("a captured snapshot of %s holds %d entries, not the %d at its capture\n got %q\nwant %q", c.which, len(got), len(c.want), got, c.want)
	}
}

// encodeCaptures encodes every captured snapshot not encoded yet.
func (m *metamorphic) encodeCaptures() {
	for _, c := range m.captures {
		m.encodeCapture(c)
	}
	m.captures = nil
}

// snapshotRestore replaces both backends by fresh ones restored from their
// snapshots, for the same range or a narrower one.
func (m *metamorphic) snapshotRestore() {
	m.encodeCaptures()
	snapA, snapB := m.snapshots()
	r := m.r
	if m.r.Len() > 1 && m.rng.IntN(2) == 0 {
		start := m.r.Start + m.rng.IntN(m.r.Len()-1)
		r = keygroup.Range{Start: start, End: start + 1 + m.rng.IntN(m.r.End-start)}
	}
	cross := m.rng.IntN(2) == 0
	if cross {
		snapA, snapB = snapB, snapA
	}
	m.logf("Restore into %s (crosswise: %v)", r, cross)
	a, b := m.open(m.newA, r), m.open(m.newB, r)
	if err := a.Restore(snapA); err != nil {
		m.fatalf("Restore into A: %v", err)
	}
	if err := b.Restore(snapB); err != nil {
		m.fatalf("Restore into B: %v", err)
	}
	m.close(m.a)
	m.close(m.b)
	m.a, m.b, m.r = a, b, r
	m.ids = [2]map[string]statebackend.StateID{{}, {}}
	for _, name := range m.declared {
		for i, kb := range []statebackend.KeyedBackend{a, b} {
			id, err := kb.Register(name, m.kinds[name])
			if err != nil {
				m.fatalf("Register(%q) after Restore on backend %c: %v", name, "AB"[i], err)
			}
			m.ids[i][name] = id
		}
	}
	m.hasKey = false
	// What survived must be the same, seen through fresh snapshots.
	m.snapshots()
}
