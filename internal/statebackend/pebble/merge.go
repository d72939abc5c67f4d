package pebble

import (
	"io"

	pebbledb "github.com/cockroachdb/pebble/v2"
)

// listMerger is the merge operator of list state: concatenation, which on
// the encoded list format (statebackend.AppendListElement) is appending,
// so Append is a blind write. Its name is recorded only in the database's
// OPTIONS file, which nothing reads after the process.
//
// Pebble's own concatenating merger copies the whole result on every
// older operand, and a read merges from the newest operand to the oldest:
// reading a list of n unmerged appends would cost O(n²). This one gathers
// the operands and concatenates once, in Finish.
var listMerger = &pebbledb.Merger{
	Name: "weir.list.concat",
	Merge: func(_, value []byte) (pebbledb.ValueMerger, error) {
		m := &listValueMerger{}
		m.newer = append(m.newer, value...)
		return m, nil
	},
}

// listValueMerger concatenates merge operands in age order, oldest first.
type listValueMerger struct {
	// newer holds the first operand and those added by MergeNewer, in
	// order.
	newer []byte
	// older holds the operands added by MergeOlder, each older than the
	// one before it; olderEnds[i] is where the i-th ends.
	older     []byte
	olderEnds []int
}

func (m *listValueMerger) MergeNewer(value []byte) error {
	m.newer = append(m.newer, value...)
	return nil
}

func (m *listValueMerger) MergeOlder(value []byte) error {
	m.older = append(m.older, value...)
	m.olderEnds = append(m.olderEnds, len(m.older))
	return nil
}

func (m *listValueMerger) Finish(bool) ([]byte, io.Closer, error) {
	if len(m.olderEnds) == 0 {
		return m.newer, nil, nil
	}
	out := make([]byte, 0, len(m.older)+len(m.newer))
	for i := len(m.olderEnds) - 1; i >= 0; i-- {
		start := 0
		if i > 0 {
			start = m.olderEnds[i-1]
		}
		out = append(out, m.older[start:m.olderEnds[i]]...)
	}
	return append(out, m.newer...), nil, nil
}
