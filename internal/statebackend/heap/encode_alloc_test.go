package heap

import "testing"

// Encoding a full snapshot allocates its buffer once, from the backend's
// size estimate, rather than growing it by append: at a GB of state the
// growth copied the encoding about five times over, and the garbage it
// left made the collector mark the state more often.
func TestSnapshotEncodeAllocatesOnce(t *testing.T) {
	b := wordCounts(t, 200_000)
	var snap []byte
	var err error
	_, n := allocated(func() { snap, err = b.SnapshotAsync().AppendEncoded(nil) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("a %d-byte snapshot allocated %d bytes", len(snap), n)
	if limit := uint64(len(snap)) * 5 / 4; n > limit {
		t.Errorf("a %d-byte snapshot allocated %d bytes, more than %d", len(snap), n, limit)
	}
}
