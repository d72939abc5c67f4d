package pebble

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/statebackend"
	"github.com/weirstream/weir/internal/statebackend/heap"
	"github.com/weirstream/weir/internal/statebackend/statebackendtest"
)

// A key written many times between commits reaches Pebble once: a
// thousand Puts of a 1 KiB value to one key add about one entry to the
// memtable, not a thousand.
func TestWriteBufferCoalescesAKeysWrites(t *testing.T) {
	for _, wal := range []bool{false, true} {
		t.Run(fmt.Sprintf("wal=%v", wal), func(t *testing.T) {
			b := open(t, vfs.NewMem(), keygroup.Range{Start: 0, End: 128}, Options{WAL: wal})
			defer func() { _ = b.Close() }()
			v, _ := b.Register("v", statebackend.KindValue)
			before := b.db.Metrics().MemTable.Size
			val := make([]byte, 1<<10)
			b.SetCurrentKey([]byte("hot"), 5)
			for i := range 1000 {
				val[0] = byte(i)
				b.Put(v, val)
			}
			b.commit()
			if err := b.Err(); err != nil {
				t.Fatal(err)
			}
			if grew := b.db.Metrics().MemTable.Size - before; grew > 8<<10 {
				t.Fatalf("the memtable grew %d bytes for 1000 writes of one 1 KiB value; want about one entry", grew)
			}
			if got, _ := b.Get(v); !bytes.Equal(got, val) {
				t.Fatal("Get after the commit does not return the last Put")
			}
		})
	}
}

// Every write between commits is visible to reads, Pebble's and the
// buffer's together, whatever commits it: each case writes some of its
// operations, commits, writes the rest, and must read what the heap
// backend reads after the same operations, before and after the second
// commit.
func TestWriteBufferReadsOverPebble(t *testing.T) {
	type op func(b statebackend.KeyedBackend, v, l, m statebackend.StateID)
	put := func(s string) op {
		return func(b statebackend.KeyedBackend, v, l, _ statebackend.StateID) {
			b.Put(v, []byte(s))
			b.Put(l, listOf(s))
		}
	}
	appendTo := func(s string) op {
		return func(b statebackend.KeyedBackend, _, l, _ statebackend.StateID) { b.Append(l, []byte(s)) }
	}
	del := func(b statebackend.KeyedBackend, v, l, m statebackend.StateID) {
		b.Delete(v)
		b.Delete(l)
		b.Delete(m)
	}
	mapPut := func(uk, s string) op {
		return func(b statebackend.KeyedBackend, _, _, m statebackend.StateID) { b.MapPut(m, []byte(uk), []byte(s)) }
	}
	mapDel := func(uk string) op {
		return func(b statebackend.KeyedBackend, _, _, m statebackend.StateID) { b.MapDelete(m, []byte(uk)) }
	}
	cases := []struct {
		name          string
		before, after []op
	}{
		{"elements appended to Pebble's list", []op{appendTo("a"), appendTo("b")}, []op{appendTo("c"), appendTo("d")}},
		{"elements appended to a buffered list", []op{appendTo("a")}, []op{put("x"), appendTo("c")}},
		{"elements appended after a buffered delete", []op{put("x"), appendTo("a")}, []op{del, appendTo("c")}},
		{"a put over buffered elements", []op{appendTo("a")}, []op{appendTo("b"), put("y")}},
		{"a delete over buffered elements", []op{appendTo("a")}, []op{appendTo("b"), del}},
		{"a value put, deleted and put", []op{put("x")}, []op{del, put("longer than x"), put("z")}},
		{"a map deleted whole over buffered entries", []op{mapPut("1", "a"), mapPut("2", "b")}, []op{mapPut("3", "c"), mapDel("1"), del, mapPut("4", "d")}},
		{"map entries over Pebble's", []op{mapPut("1", "a"), mapPut("2", "b")}, []op{mapDel("1"), mapPut("2", "B"), mapPut("3", "c")}},
		{"a value larger than the buffer", []op{put("x")}, []op{put(string(make([]byte, 300))), appendTo("a")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := keygroup.Range{Start: 0, End: 128}
			p := open(t, vfs.NewMem(), r, Options{})
			defer func() { _ = p.Close() }()
			p.buf = newWriteBuffer(256) // smaller than the largest value
			h := heap.New(r)
			var ids [2][3]statebackend.StateID
			for i, b := range []statebackend.KeyedBackend{h, p} {
				ids[i][0], _ = b.Register("v", statebackend.KindValue)
				ids[i][1], _ = b.Register("l", statebackend.KindList)
				ids[i][2], _ = b.Register("m", statebackend.KindMap)
				b.SetCurrentKey([]byte("k"), 9)
			}
			apply := func(ops []op) {
				for _, o := range ops {
					for i, b := range []statebackend.KeyedBackend{h, p} {
						o(b, ids[i][0], ids[i][1], ids[i][2])
					}
				}
			}
			check := func(when string) {
				t.Helper()
				for s := range 2 {
					hv, hok := h.Get(ids[0][s])
					pv, pok := p.Get(ids[1][s])
					if hok != pok || !bytes.Equal(hv, pv) {
						t.Errorf("%s: Get of state %d = %q, %v; the heap's %q, %v", when, s, pv, pok, hv, hok)
					}
				}
				for _, uk := range []string{"1", "2", "3", "4"} {
					hv, hok := h.MapGet(ids[0][2], []byte(uk))
					pv, pok := p.MapGet(ids[1][2], []byte(uk))
					if hok != pok || !bytes.Equal(hv, pv) {
						t.Errorf("%s: MapGet(%s) = %q, %v; the heap's %q, %v", when, uk, pv, pok, hv, hok)
					}
				}
				if he, pe := statebackendtest.MapEntries(h, ids[0][2]), statebackendtest.MapEntries(p, ids[1][2]); fmt.Sprint(he) != fmt.Sprint(pe) {
					t.Errorf("%s: MapRange = %q; the heap's %q", when, pe, he)
				}
			}
			apply(c.before)
			p.commit()
			apply(c.after)
			check("buffered")
			p.commit()
			check("committed")
			if err := p.Err(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func listOf(elems ...string) []byte {
	var l []byte
	for _, e := range elems {
		l = statebackend.AppendListElement(l, []byte(e))
	}
	return l
}

// The metamorphic test again with a write buffer of 64 bytes, so that
// most writes commit it, and the larger ones go to Pebble on their own.
func TestMetamorphicTinyWriteBuffer(t *testing.T) {
	seeds := metamorphicSeeds / 3
	if testing.Short() {
		seeds = 10
	}
	newHeap := func(t *testing.T, r keygroup.Range) statebackend.KeyedBackend { return heap.New(r) }
	newPebble := func(t *testing.T, r keygroup.Range) statebackend.KeyedBackend {
		b := open(t, vfs.NewMem(), r, Options{MemoryBytes: 256 << 10})
		b.buf = newWriteBuffer(64)
		return b
	}
	for seed := range int64(seeds) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			statebackendtest.Metamorphic(t, seed, newHeap, newPebble)
		})
	}
}
