package statebackendtest

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/statebackend"
)

// defaultRange is the key-group range most subtests open a backend for. It
// does not start at 0, so a backend that indexes by absolute rather than
// relative key group fails, and its ends are the key groups used to check
// scoping per key group.
var defaultRange = keygroup.Range{Start: 16, End: 48}

// maxParallelism is the number of key groups of the job the suite pretends
// to run in, for tests that place keys by hash.
const maxParallelism = keygroup.DefaultMaxParallelism

// Run runs the conformance suite against the backends newBackend makes.
//
// newBackend must return an empty backend for the key groups in r. Every
// subtest opens its own backends and closes them when it ends, failing if
// Close returns an error, so newBackend must not close them itself; it may
// register cleanups for what it created besides (a directory, say).
func Run(t *testing.T, newBackend func(t *testing.T, r keygroup.Range) statebackend.KeyedBackend) {
	s := suite{newBackend: newBackend}
	t.Run("Register", s.testRegister)
	t.Run("Value", s.testValue)
	t.Run("List", s.testList)
	t.Run("Map", s.testMap)
	t.Run("StatesAreIsolated", s.testStatesAreIsolated)
	t.Run("ManyKeys", s.testManyKeys)
	t.Run("SnapshotRestore", func(t *testing.T) { runSnapshot(t, newBackend) })
}

type suite struct {
	newBackend func(t *testing.T, r keygroup.Range) statebackend.KeyedBackend
}

// open returns a fixture over a new backend for r, closed when t ends.
func (s suite) open(t *testing.T, r keygroup.Range) *fixture {
	t.Helper()
	b := s.newBackend(t, r)
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &fixture{t: t, b: b, r: r}
}

func (s suite) testRegister(t *testing.T) {
	kinds := []statebackend.Kind{statebackend.KindValue, statebackend.KindList, statebackend.KindMap}

	t.Run("SameNameAndKindReturnsSameID", func(t *testing.T) {
		for _, kind := range kinds {
			f := s.open(t, defaultRange)
			id1 := f.register("s", kind)
			id2 := f.register("s", kind)
			if id1 != id2 {
				t.Errorf("Register(s, %s) twice = %d, %d; want the same ID", kind, id1, id2)
			}
		}
	})

	t.Run("SameNameAndKindSharesState", func(t *testing.T) {
		f := s.open(t, defaultRange)
		id1 := f.register("s", statebackend.KindValue)
		f.at("k", f.r.Start)
		f.b.Put(id1, []byte("v"))
		id2 := f.register("s", statebackend.KindValue)
		f.wantValue(id2, "v")
	})

	t.Run("DistinctNamesGetDistinctIDs", func(t *testing.T) {
		f := s.open(t, defaultRange)
		seen := map[statebackend.StateID]string{}
		for i := range 12 {
			name := fmt.Sprintf("s%d", i)
			id := f.register(name, kinds[i%len(kinds)])
			if other, ok := seen[id]; ok {
				t.Errorf("Register(%s) = %d, already the ID of %s", name, id, other)
			}
			seen[id] = name
		}
	})

	t.Run("KindMismatchFails", func(t *testing.T) {
		for _, first := range kinds {
			for _, second := range kinds {
				if first == second {
					continue
				}
				t.Run(fmt.Sprintf("%sThen%s", title(first), title(second)), func(t *testing.T) {
					f := s.open(t, defaultRange)
					id := f.register("s", first)
					if _, err := f.b.Register("s", second); !errors.Is(err, statebackend.ErrKindMismatch) {
						t.Fatalf("Register(s, %s) after Register(s, %s) = %v; want an error matching ErrKindMismatch", second, first, err)
					}
					// The failed declaration leaves the first one intact.
					if again := f.register("s", first); again != id {
						t.Errorf("Register(s, %s) after a mismatch = %d; want %d", first, again, id)
					}
				})
			}
		}
	})

	t.Run("NewStateIsEmptyAfterOthersHoldData", func(t *testing.T) {
		f := s.open(t, defaultRange)
		a := f.register("a", statebackend.KindValue)
		f.at("k", f.r.Start)
		f.b.Put(a, []byte("v"))
		b := f.register("b", statebackend.KindValue)
		l := f.register("l", statebackend.KindList)
		m := f.register("m", statebackend.KindMap)
		f.wantAbsent(b)
		f.wantAbsent(l)
		f.wantMap(m, nil)
		f.wantValue(a, "v")
	})
}

func (s suite) testValue(t *testing.T) {
	t.Run("AbsentBeforePut", func(t *testing.T) {
		f := s.open(t, defaultRange)
		v := f.register("v", statebackend.KindValue)
		f.at("k", f.r.Start)
		f.wantAbsent(v)
	})

	t.Run("PutThenGet", func(t *testing.T) {
		f := s.open(t, defaultRange)
		v := f.register("v", statebackend.KindValue)
		f.at("k", f.r.Start)
		f.b.Put(v, []byte("hello"))
		f.wantValue(v, "hello")
	})

	t.Run("PutOverwrites", func(t *testing.T) {
		f := s.open(t, defaultRange)
		v := f.register("v", statebackend.KindValue)
		f.at("k", f.r.Start)
		for _, val := range []string{"a medium value", "short", "a value longer than both of the others", "x"} {
			f.b.Put(v, []byte(val))
			f.wantValue(v, val)
		}
	})

	t.Run("EmptyValueIsPresent", func(t *testing.T) {
		f := s.open(t, defaultRange)
		v := f.register("v", statebackend.KindValue)
		f.at("nil", f.r.Start)
		f.b.Put(v, nil)
		f.wantValue(v, "")
		f.at("empty", f.r.Start)
		f.b.Put(v, []byte{})
		f.wantValue(v, "")
		f.at("overwritten", f.r.Start)
		f.b.Put(v, []byte("something"))
		f.b.Put(v, []byte{})
		f.wantValue(v, "")
	})

	t.Run("Delete", func(t *testing.T) {
		f := s.open(t, defaultRange)
		v := f.register("v", statebackend.KindValue)
		f.at("k", f.r.Start)
		f.b.Put(v, []byte("v"))
		f.b.Delete(v)
		f.wantAbsent(v)
		f.b.Put(v, []byte("again"))
		f.wantValue(v, "again")
	})

	t.Run("DeleteAbsentIsNoop", func(t *testing.T) {
		f := s.open(t, defaultRange)
		v := f.register("v", statebackend.KindValue)
		f.at("k", f.r.Start)
		f.b.Delete(v)
		f.wantAbsent(v)
	})

	t.Run("ScopedPerKey", func(t *testing.T) {
		f := s.open(t, defaultRange)
		v := f.register("v", statebackend.KindValue)
		keys := trickyKeys()
		for i, k := range keys {
			f.at(k, f.r.Start)
			f.b.Put(v, []byte(fmt.Sprintf("value %d", i)))
		}
		for i, k := range keys {
			f.at(k, f.r.Start)
			f.wantValue(v, fmt.Sprintf("value %d", i))
		}
		f.at(keys[1], f.r.Start)
		f.b.Delete(v)
		for i, k := range keys {
			f.at(k, f.r.Start)
			if i == 1 {
				f.wantAbsent(v)
			} else {
				f.wantValue(v, fmt.Sprintf("value %d", i))
			}
		}
	})

	t.Run("ScopedPerKeyGroup", func(t *testing.T) {
		f := s.open(t, defaultRange)
		v := f.register("v", statebackend.KindValue)
		lo, hi := f.r.Start, f.r.End-1
		f.at("k", lo)
		f.b.Put(v, []byte("in lo"))
		f.at("k", hi)
		f.wantAbsent(v)
		f.b.Put(v, []byte("in hi"))
		f.at("k", lo)
		f.wantValue(v, "in lo")
		f.b.Delete(v)
		f.at("k", hi)
		f.wantValue(v, "in hi")
	})

	t.Run("PutCopiesValue", func(t *testing.T) {
		f := s.open(t, defaultRange)
		v := f.register("v", statebackend.KindValue)
		buf := []byte("first")
		f.at("a", f.r.Start)
		f.b.Put(v, buf)
		copy(buf, "XXXXX")
		f.wantValue(v, "first")
		// The caller reuses its buffer for the next key, as a codec does.
		buf = append(buf[:0], "second"...)
		f.at("b", f.r.Start)
		f.b.Put(v, buf)
		clear(buf)
		f.wantValue(v, "second")
		f.at("a", f.r.Start)
		f.wantValue(v, "first")
	})

	t.Run("GetDoesNotAliasCallerBuffer", func(t *testing.T) {
		f := s.open(t, defaultRange)
		v := f.register("v", statebackend.KindValue)
		buf := []byte("stored")
		f.at("k", f.r.Start)
		f.b.Put(v, buf)
		got, _ := f.b.Get(v)
		copy(buf, "XXXXXX")
		if string(got) != "stored" {
			t.Errorf("Get = %q after the caller overwrote the buffer it passed to Put; want %q", got, "stored")
		}
	})

	t.Run("SetCurrentKeyCopiesKey", func(t *testing.T) {
		f := s.open(t, defaultRange)
		v := f.register("v", statebackend.KindValue)
		key := []byte("alpha")
		f.b.SetCurrentKey(key, f.r.Start)
		copy(key, "bravo")
		f.b.Put(v, []byte("for alpha"))
		copy(key, "delta")
		f.at("alpha", f.r.Start)
		f.wantValue(v, "for alpha")
		f.at("bravo", f.r.Start)
		f.wantAbsent(v)
		f.at("delta", f.r.Start)
		f.wantAbsent(v)
	})
}

func (s suite) testList(t *testing.T) {
	t.Run("AbsentBeforeAppend", func(t *testing.T) {
		f := s.open(t, defaultRange)
		l := f.register("l", statebackend.KindList)
		f.at("k", f.r.Start)
		f.wantAbsent(l)
	})

	t.Run("AppendThenGet", func(t *testing.T) {
		f := s.open(t, defaultRange)
		l := f.register("l", statebackend.KindList)
		f.at("k", f.r.Start)
		want := []string{"a", "bb", "", strings.Repeat("c", 300), "d"}
		for i, e := range want {
			f.b.Append(l, []byte(e))
			f.wantList(l, want[:i+1]...)
		}
	})

	t.Run("AppendEmptyElementMakesListPresent", func(t *testing.T) {
		f := s.open(t, defaultRange)
		l := f.register("l", statebackend.KindList)
		f.at("k", f.r.Start)
		f.b.Append(l, nil)
		f.wantList(l, "")
	})

	t.Run("PutReplacesList", func(t *testing.T) {
		f := s.open(t, defaultRange)
		l := f.register("l", statebackend.KindList)
		f.at("k", f.r.Start)
		f.b.Append(l, []byte("old"))
		f.b.Put(l, encodeList("x", "yy"))
		f.wantList(l, "x", "yy")
		f.b.Append(l, []byte("zzz"))
		f.wantList(l, "x", "yy", "zzz")
	})

	t.Run("PutEmptyListIsPresent", func(t *testing.T) {
		f := s.open(t, defaultRange)
		l := f.register("l", statebackend.KindList)
		f.at("k", f.r.Start)
		f.b.Put(l, []byte{})
		f.wantList(l)
		f.b.Append(l, []byte("a"))
		f.wantList(l, "a")
	})

	t.Run("Delete", func(t *testing.T) {
		f := s.open(t, defaultRange)
		l := f.register("l", statebackend.KindList)
		f.at("k", f.r.Start)
		f.b.Append(l, []byte("a"))
		f.b.Append(l, []byte("b"))
		f.b.Delete(l)
		f.wantAbsent(l)
		f.b.Append(l, []byte("c"))
		f.wantList(l, "c")
	})

	t.Run("ScopedPerKeyAndKeyGroup", func(t *testing.T) {
		f := s.open(t, defaultRange)
		l := f.register("l", statebackend.KindList)
		lo, hi := f.r.Start, f.r.End-1
		f.at("k", lo)
		f.b.Append(l, []byte("k lo"))
		f.at("k", hi)
		f.b.Append(l, []byte("k hi"))
		f.at("k2", lo)
		f.b.Append(l, []byte("k2 lo"))
		f.at("k", lo)
		f.b.Append(l, []byte("k lo again"))

		f.at("k", lo)
		f.wantList(l, "k lo", "k lo again")
		f.at("k", hi)
		f.wantList(l, "k hi")
		f.at("k2", lo)
		f.wantList(l, "k2 lo")
		f.at("k2", hi)
		f.wantAbsent(l)
	})

	t.Run("AppendAndPutCopyBuffers", func(t *testing.T) {
		f := s.open(t, defaultRange)
		l := f.register("l", statebackend.KindList)
		f.at("k", f.r.Start)
		buf := encodeList("p", "q")
		f.b.Put(l, buf)
		clear(buf)
		elem := []byte("r")
		f.b.Append(l, elem)
		elem[0] = 'X'
		f.wantList(l, "p", "q", "r")
	})
}

func (s suite) testMap(t *testing.T) {
	t.Run("AbsentBeforePut", func(t *testing.T) {
		f := s.open(t, defaultRange)
		m := f.register("m", statebackend.KindMap)
		f.at("k", f.r.Start)
		f.wantMapAbsent(m, "uk")
		f.wantMap(m, nil)
	})

	t.Run("PutThenGet", func(t *testing.T) {
		f := s.open(t, defaultRange)
		m := f.register("m", statebackend.KindMap)
		f.at("k", f.r.Start)
		f.b.MapPut(m, []byte("a"), []byte("1"))
		f.b.MapPut(m, []byte("b"), []byte("2"))
		f.wantMapValue(m, "a", "1")
		f.wantMapValue(m, "b", "2")
		f.wantMapAbsent(m, "c")
		f.wantMap(m, map[string]string{"a": "1", "b": "2"})
	})

	t.Run("PutOverwrites", func(t *testing.T) {
		f := s.open(t, defaultRange)
		m := f.register("m", statebackend.KindMap)
		f.at("k", f.r.Start)
		for _, val := range []string{"a medium value", "short", "a value longer than both of the others", "x"} {
			f.b.MapPut(m, []byte("uk"), []byte(val))
			f.wantMapValue(m, "uk", val)
		}
		f.wantMap(m, map[string]string{"uk": "x"})
	})

	t.Run("EmptyUserKeyAndValueArePresent", func(t *testing.T) {
		f := s.open(t, defaultRange)
		m := f.register("m", statebackend.KindMap)
		f.at("k", f.r.Start)
		f.b.MapPut(m, nil, []byte("under the empty user key"))
		f.b.MapPut(m, []byte("empty"), nil)
		f.b.MapPut(m, []byte("overwritten"), []byte("something"))
		f.b.MapPut(m, []byte("overwritten"), []byte{})
		f.wantMapValue(m, "", "under the empty user key")
		f.wantMapValue(m, "empty", "")
		f.wantMapValue(m, "overwritten", "")
		f.wantMap(m, map[string]string{"": "under the empty user key", "empty": "", "overwritten": ""})
	})

	t.Run("MapDelete", func(t *testing.T) {
		f := s.open(t, defaultRange)
		m := f.register("m", statebackend.KindMap)
		f.at("k", f.r.Start)
		f.b.MapPut(m, []byte("a"), []byte("1"))
		f.b.MapPut(m, []byte("b"), []byte("2"))
		f.b.MapDelete(m, []byte("a"))
		f.wantMapAbsent(m, "a")
		f.wantMapValue(m, "b", "2")
		f.b.MapDelete(m, []byte("never put"))
		f.wantMap(m, map[string]string{"b": "2"})
		// Deleting the last entry, then putting again.
		f.b.MapDelete(m, []byte("b"))
		f.wantMap(m, nil)
		f.b.MapPut(m, []byte("c"), []byte("3"))
		f.wantMap(m, map[string]string{"c": "3"})
	})

	t.Run("MapDeleteOnEmptyMapIsNoop", func(t *testing.T) {
		f := s.open(t, defaultRange)
		m := f.register("m", statebackend.KindMap)
		f.at("k", f.r.Start)
		f.b.MapDelete(m, []byte("a"))
		f.wantMap(m, nil)
	})

	t.Run("UserKeysThatArePrefixesAreDistinct", func(t *testing.T) {
		f := s.open(t, defaultRange)
		m := f.register("m", statebackend.KindMap)
		f.at("k", f.r.Start)
		want := map[string]string{}
		for i, uk := range trickyKeys() {
			v := fmt.Sprintf("value %d", i)
			f.b.MapPut(m, []byte(uk), []byte(v))
			want[uk] = v
		}
		for uk, v := range want {
			f.wantMapValue(m, uk, v)
		}
		f.wantMap(m, want)
	})

	t.Run("KeyAndUserKeyDoNotRunTogether", func(t *testing.T) {
		// An encoding that concatenates key and user key would store both
		// entries under "abc"; one with a zero-byte separator would store
		// both of the second pair under "a\x00\x00b".
		f := s.open(t, defaultRange)
		m := f.register("m", statebackend.KindMap)
		pairs := []struct{ key, uk, v string }{
			{"a", "bc", "1"},
			{"ab", "c", "2"},
			{"a\x00", "b", "3"},
			{"a", "\x00b", "4"},
		}
		for _, p := range pairs {
			f.at(p.key, f.r.Start)
			f.b.MapPut(m, []byte(p.uk), []byte(p.v))
		}
		f.at("a", f.r.Start)
		f.wantMap(m, map[string]string{"bc": "1", "\x00b": "4"})
		f.at("ab", f.r.Start)
		f.wantMap(m, map[string]string{"c": "2"})
		f.at("a\x00", f.r.Start)
		f.wantMap(m, map[string]string{"b": "3"})
	})

	t.Run("Range", func(t *testing.T) {
		f := s.open(t, defaultRange)
		m := f.register("m", statebackend.KindMap)
		f.at("k", f.r.Start)
		want := map[string]string{}
		for i := range 200 {
			uk, v := fmt.Sprintf("uk%d", i), fmt.Sprintf("v%d", i)
			f.b.MapPut(m, []byte(uk), []byte(v))
			want[uk] = v
		}
		f.wantMap(m, want)
	})

	t.Run("RangeStopsWhenFnReturnsFalse", func(t *testing.T) {
		f := s.open(t, defaultRange)
		m := f.register("m", statebackend.KindMap)
		f.at("k", f.r.Start)
		for i := range 10 {
			f.b.MapPut(m, []byte{byte(i)}, []byte("v"))
		}
		for stopAt := 1; stopAt <= 3; stopAt++ {
			calls := 0
			f.b.MapRange(m, func(_, _ []byte) bool {
				calls++
				return calls < stopAt
			})
			if calls != stopAt {
				t.Errorf("MapRange called fn %d times; want %d, the call that returned false being the last", calls, stopAt)
			}
		}
	})

	t.Run("DeleteClearsWholeMap", func(t *testing.T) {
		f := s.open(t, defaultRange)
		m := f.register("m", statebackend.KindMap)
		f.at("other", f.r.Start)
		f.b.MapPut(m, []byte("a"), []byte("kept"))
		f.at("k", f.r.Start)
		for i := range 20 {
			f.b.MapPut(m, []byte(fmt.Sprintf("uk%d", i)), []byte("v"))
		}
		f.b.Delete(m)
		f.wantMap(m, nil)
		f.wantMapAbsent(m, "uk0")
		f.wantMapAbsent(m, "uk19")
		f.at("other", f.r.Start)
		f.wantMap(m, map[string]string{"a": "kept"})
		f.at("k", f.r.Start)
		f.b.MapPut(m, []byte("uk0"), []byte("new"))
		f.wantMap(m, map[string]string{"uk0": "new"})
	})

	t.Run("ScopedPerKeyAndKeyGroup", func(t *testing.T) {
		f := s.open(t, defaultRange)
		m := f.register("m", statebackend.KindMap)
		lo, hi := f.r.Start, f.r.End-1
		f.at("k", lo)
		f.b.MapPut(m, []byte("uk"), []byte("k lo"))
		f.at("k", hi)
		f.wantMapAbsent(m, "uk")
		f.b.MapPut(m, []byte("uk"), []byte("k hi"))
		f.at("k2", lo)
		f.b.MapPut(m, []byte("uk"), []byte("k2 lo"))
		f.b.MapPut(m, []byte("uk2"), []byte("k2 lo"))

		f.at("k", lo)
		f.wantMap(m, map[string]string{"uk": "k lo"})
		f.at("k", hi)
		f.wantMap(m, map[string]string{"uk": "k hi"})
		f.at("k2", lo)
		f.wantMap(m, map[string]string{"uk": "k2 lo", "uk2": "k2 lo"})

		f.at("k", lo)
		f.b.MapDelete(m, []byte("uk"))
		f.at("k", hi)
		f.wantMapValue(m, "uk", "k hi")
		f.b.Delete(m)
		f.at("k2", lo)
		f.wantMap(m, map[string]string{"uk": "k2 lo", "uk2": "k2 lo"})
	})

	t.Run("PutCopiesBuffers", func(t *testing.T) {
		f := s.open(t, defaultRange)
		m := f.register("m", statebackend.KindMap)
		f.at("k", f.r.Start)
		uk, v := []byte("key1"), []byte("val1")
		f.b.MapPut(m, uk, v)
		// The caller reuses both buffers for the next entry, as a codec does.
		copy(uk, "key2")
		copy(v, "val2")
		f.b.MapPut(m, uk, v)
		copy(uk, "XXXX")
		copy(v, "YYYY")
		f.wantMap(m, map[string]string{"key1": "val1", "key2": "val2"})
	})

	t.Run("MapGetDoesNotAliasCallerBuffer", func(t *testing.T) {
		f := s.open(t, defaultRange)
		m := f.register("m", statebackend.KindMap)
		f.at("k", f.r.Start)
		v := []byte("stored")
		f.b.MapPut(m, []byte("uk"), v)
		got, _ := f.b.MapGet(m, []byte("uk"))
		copy(v, "XXXXXX")
		if string(got) != "stored" {
			t.Errorf("MapGet = %q after the caller overwrote the buffer it passed to MapPut; want %q", got, "stored")
		}
	})
}

func (s suite) testStatesAreIsolated(t *testing.T) {
	f := s.open(t, defaultRange)
	v1 := f.register("v1", statebackend.KindValue)
	v2 := f.register("v2", statebackend.KindValue)
	l := f.register("l", statebackend.KindList)
	m := f.register("m", statebackend.KindMap)
	f.at("k", f.r.Start)
	f.b.Put(v1, []byte("v1"))
	f.wantAbsent(v2)
	f.wantAbsent(l)
	f.wantMap(m, nil)
	f.b.Put(v2, []byte("v2"))
	f.b.Append(l, []byte("l"))
	f.b.MapPut(m, []byte("uk"), []byte("m"))

	f.b.Delete(v1)
	f.wantAbsent(v1)
	f.wantValue(v2, "v2")
	f.wantList(l, "l")
	f.wantMap(m, map[string]string{"uk": "m"})

	f.b.Delete(m)
	f.wantValue(v2, "v2")
	f.wantList(l, "l")

	f.b.Delete(l)
	f.wantValue(v2, "v2")
}

func (s suite) testManyKeys(t *testing.T) {
	for _, r := range []keygroup.Range{
		{Start: 0, End: maxParallelism},
		defaultRange,
		{Start: maxParallelism - 1, End: maxParallelism},
	} {
		t.Run(fmt.Sprintf("KeyGroups%dTo%d", r.Start, r.End), func(t *testing.T) {
			f := s.open(t, r)
			v := f.register("v", statebackend.KindValue)
			l := f.register("l", statebackend.KindList)
			m := f.register("m", statebackend.KindMap)
			keys := keysIn(r, 1000, 4)

			for _, k := range keys {
				f.at(k.key, k.kg)
				f.b.Put(v, []byte("v-"+k.key))
				f.b.Append(l, []byte("l1-"+k.key))
				f.b.Append(l, []byte("l2-"+k.key))
				f.b.MapPut(m, []byte("x"), []byte("x-"+k.key))
				f.b.MapPut(m, []byte("y"), []byte("y-"+k.key))
			}
			for _, k := range keys {
				f.at(k.key, k.kg)
				f.wantValue(v, "v-"+k.key)
				f.wantList(l, "l1-"+k.key, "l2-"+k.key)
				f.wantMap(m, map[string]string{"x": "x-" + k.key, "y": "y-" + k.key})
				if t.Failed() {
					t.Fatalf("at key %q in key group %d", k.key, k.kg)
				}
			}

			// Delete every other key, state by state.
			for i, k := range keys {
				if i%2 == 0 {
					f.at(k.key, k.kg)
					f.b.Delete(v)
					f.b.Delete(l)
					f.b.Delete(m)
				}
			}
			for i, k := range keys {
				f.at(k.key, k.kg)
				if i%2 == 0 {
					f.wantAbsent(v)
					f.wantAbsent(l)
					f.wantMap(m, nil)
				} else {
					f.wantValue(v, "v-"+k.key)
					f.wantList(l, "l1-"+k.key, "l2-"+k.key)
					f.wantMap(m, map[string]string{"x": "x-" + k.key, "y": "y-" + k.key})
				}
				if t.Failed() {
					t.Fatalf("at key %q in key group %d, after deleting every other key", k.key, k.kg)
				}
			}
		})
	}
}

// placedKey is a key with the key group its hash places it in.
type placedKey struct {
	key string
	kg  int
}

// keysIn returns at least n keys whose key groups lie in r, with at least
// perGroup keys in every key group of r.
func keysIn(r keygroup.Range, n, perGroup int) []placedKey {
	var keys []placedKey
	counts := make([]int, r.Len())
	short := r.Len() // key groups with fewer than perGroup keys
	for i := 0; len(keys) < n || short > 0; i++ {
		k := fmt.Sprintf("key-%d", i)
		kg := keygroup.Of(keygroup.Hash([]byte(k)), maxParallelism)
		if !r.Contains(kg) {
			continue
		}
		keys = append(keys, placedKey{k, kg})
		counts[kg-r.Start]++
		if counts[kg-r.Start] == perGroup {
			short--
		}
	}
	return keys
}

// trickyKeys are keys an encoded key layout may confuse: prefixes of one
// another, zero and 0xff bytes, and the empty key.
func trickyKeys() []string {
	return []string{"", "a", "ab", "abc", "a\x00", "a\x00b", "\x00", "\x00\x00", "\xff", "a\xff", "b"}
}

// encodeList returns the encoded list of elems.
func encodeList(elems ...string) []byte {
	list := []byte{}
	for _, e := range elems {
		list = statebackend.AppendListElement(list, []byte(e))
	}
	return list
}

func title(k statebackend.Kind) string {
	s := k.String()
	return strings.ToUpper(s[:1]) + s[1:]
}

// fixture is a backend under test with assertions that name what failed.
type fixture struct {
	t *testing.T
	b statebackend.KeyedBackend
	r keygroup.Range
}

func (f *fixture) register(name string, kind statebackend.Kind) statebackend.StateID {
	f.t.Helper()
	id, err := f.b.Register(name, kind)
	if err != nil {
		f.t.Fatalf("Register(%q, %s): %v", name, kind, err)
	}
	return id
}

// at makes key, in key group kg, the current key. The backend gets a fresh
// slice, so a backend that keeps it without copying is caught by the tests
// that reuse a key buffer, not by every test.
func (f *fixture) at(key string, kg int) {
	f.b.SetCurrentKey([]byte(key), kg)
}

func (f *fixture) wantValue(s statebackend.StateID, want string) {
	f.t.Helper()
	got, ok := f.b.Get(s)
	if !ok {
		f.t.Errorf("Get(%d) is absent; want %q", s, want)
		return
	}
	if string(got) != want {
		f.t.Errorf("Get(%d) = %q; want %q", s, got, want)
	}
}

func (f *fixture) wantAbsent(s statebackend.StateID) {
	f.t.Helper()
	if got, ok := f.b.Get(s); ok {
		f.t.Errorf("Get(%d) = %q; want absent", s, got)
	}
}

// wantList checks that the list state s is present and holds exactly want,
// both decoded and byte for byte in the encoded form of AppendListElement.
func (f *fixture) wantList(s statebackend.StateID, want ...string) {
	f.t.Helper()
	raw, ok := f.b.Get(s)
	if !ok {
		f.t.Errorf("Get(%d) is absent; want the list %q", s, want)
		return
	}
	got := []string{}
	if err := statebackend.RangeList(raw, func(e []byte) bool {
		got = append(got, string(e))
		return true
	}); err != nil {
		f.t.Errorf("Get(%d) = %q, which RangeList rejects: %v", s, raw, err)
		return
	}
	if !slices.Equal(got, want) {
		f.t.Errorf("list %d = %q; want %q", s, got, want)
		return
	}
	if enc := encodeList(want...); !bytes.Equal(raw, enc) {
		f.t.Errorf("Get(%d) = %x; want the encoding %x of %q", s, raw, enc, want)
	}
}

func (f *fixture) wantMapValue(s statebackend.StateID, userKey, want string) {
	f.t.Helper()
	got, ok := f.b.MapGet(s, []byte(userKey))
	if !ok {
		f.t.Errorf("MapGet(%d, %q) is absent; want %q", s, userKey, want)
		return
	}
	if string(got) != want {
		f.t.Errorf("MapGet(%d, %q) = %q; want %q", s, userKey, got, want)
	}
}

func (f *fixture) wantMapAbsent(s statebackend.StateID, userKey string) {
	f.t.Helper()
	if got, ok := f.b.MapGet(s, []byte(userKey)); ok {
		f.t.Errorf("MapGet(%d, %q) = %q; want absent", s, userKey, got)
	}
}

// wantMap checks that MapRange visits exactly the entries of want, each
// once. A nil or empty want means no entries.
func (f *fixture) wantMap(s statebackend.StateID, want map[string]string) {
	f.t.Helper()
	got := map[string]string{}
	var dups []string
	f.b.MapRange(s, func(uk, v []byte) bool {
		if _, ok := got[string(uk)]; ok {
			dups = append(dups, string(uk))
		}
		got[string(uk)] = string(v)
		return true
	})
	if len(dups) > 0 {
		f.t.Errorf("MapRange(%d) visited %q more than once", s, dups)
	}
	if len(want) == 0 && len(got) == 0 {
		return
	}
	if !maps.Equal(got, want) {
		f.t.Errorf("MapRange(%d) visited %q; want %q", s, sortedEntries(got), sortedEntries(want))
	}
}

func sortedEntries(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, k+"="+m[k])
	}
	return out
}
