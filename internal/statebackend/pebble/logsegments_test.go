package pebble

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/statebackend"
)

// logSegments returns the shared segments of each write-ahead log of a
// manifest, and fails if a log with bytes is inline.
func logSegments(t *testing.T, p statebackend.Persisted) map[string][]SharedFile {
	t.Helper()
	n, err := DecodeNative(p.Keyed)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range n.Inline {
		if isLog(name) && len(data) > 0 {
			t.Fatalf("log %s (%d bytes) is inline", name, len(data))
		}
	}
	logs := map[string][]SharedFile{}
	for name, segs := range n.files() {
		if isLog(name) {
			logs[name] = segs
		}
	}
	return logs
}

// restoredFrom materializes and converts a persisted native snapshot.
func restoredFrom(t *testing.T, p statebackend.Persisted, src Source) ([]byte, MaterializeStats) {
	t.Helper()
	n, err := DecodeNative(p.Keyed)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "restored")
	ms, err := n.Materialize(context.Background(), dir, src)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Canonical(dir, n, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return got, ms
}

// The write-ahead log is shared in segments: the first snapshot uploads
// it whole, one based on it references that segment again and uploads
// only the bytes appended since, and each restores to its own barrier's
// state, from storage and from the local copy. Without a base the log is
// uploaded whole again.
func TestNativeSnapshotUploadsTheLogInSegments(t *testing.T) {
	r := keygroup.Range{Start: 0, End: keygroup.DefaultMaxParallelism}
	// Memtables large enough that nothing is flushed: every write is in
	// the log and none in an SST.
	b := open(t, nil, r, Options{MemoryBytes: 64 << 20, WAL: true})
	defer func() { _ = b.Close() }()
	st := newMemShared()
	fill(b, 0, 4000)
	want1 := snapshotOf(t, b)
	p1 := persist(t, b, 1, 0, st)
	fill(b, 10000, 100)
	want2 := snapshotOf(t, b)
	ns, err := b.NativeSnapshot(2, 0)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := ns.Persist(context.Background(), st, 1)
	if err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(t.TempDir(), "local")
	if err := ns.Keep(local); err != nil {
		t.Fatal(err)
	}

	// The log taking writes: the one with most bytes (Pebble also keeps
	// the small ones of opening the database).
	logs1, logs2 := logSegments(t, p1), logSegments(t, p2)
	var name string
	for n, segs := range logs1 {
		if name == "" || fileSize(segs) > fileSize(logs1[name]) {
			name = n
		}
	}
	first, second := logs1[name], logs2[name]
	if len(first) != 1 || first[0].Size < 256<<10 || p1.Uploaded != p1.Full-inlineBytes(t, p1) {
		t.Fatalf("the first snapshot uploaded %d bytes and shares its log as %+v; want the log whole", p1.Uploaded, first)
	}
	if len(second) != 2 || second[0] != first[0] || second[1].Offset != first[0].Size {
		t.Fatalf("the second snapshot shares the log as %+v; want the first's segment %+v and the bytes after it", second, first[0])
	}
	if p2.Uploaded != second[1].Size || p2.Uploaded*10 > p1.Uploaded {
		t.Fatalf("the second snapshot uploaded %d bytes (its new segment %d, the first snapshot %d)", p2.Uploaded, second[1].Size, p1.Uploaded)
	}
	if got, _ := restoredFrom(t, p1, Source{Fetch: st.fetch}); !bytes.Equal(got, want1) {
		t.Fatal("the first snapshot restores to other state")
	}
	if got, _ := restoredFrom(t, p2, Source{Fetch: st.fetch}); !bytes.Equal(got, want2) {
		t.Fatal("the second snapshot restores to other state")
	}
	got, ms := restoredFrom(t, p2, Source{Fetch: st.fetch, Local: func(name string) (string, bool) { return filepath.Join(local, name), true }})
	if !bytes.Equal(got, want2) || ms.Downloaded != 0 || ms.LocalBytes != p2.Full-inlineBytes(t, p2) {
		t.Fatalf("restored from the local copy: same state %v, %d bytes local, %d downloaded of %d shared", bytes.Equal(got, want2), ms.LocalBytes, ms.Downloaded, p2.Full-inlineBytes(t, p2))
	}
	// A damaged local copy of the log is downloaded instead.
	path := filepath.Join(local, name)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[second[1].Offset+second[1].Size/2] ^= 1
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	got, ms = restoredFrom(t, p2, Source{Fetch: st.fetch, Local: func(name string) (string, bool) { return filepath.Join(local, name), true }})
	if !bytes.Equal(got, want2) || ms.Downloaded != fileSize(second) {
		t.Fatalf("restored over a damaged local log: same state %v, %d bytes downloaded, want the log's %d", bytes.Equal(got, want2), ms.Downloaded, fileSize(second))
	}

	p3 := persist(t, b, 3, 0, st)
	if third := logSegments(t, p3)[name]; len(third) != 1 || third[0].Size < fileSize(second) {
		t.Fatalf("a snapshot without a base shares the log as %+v; want it whole", third)
	}
}

// A log's segments are bounded: past maxLogSegments the log is uploaded
// whole again, and the snapshot still restores.
func TestNativeLogSegmentsAreBounded(t *testing.T) {
	r := keygroup.Range{Start: 0, End: keygroup.DefaultMaxParallelism}
	b := open(t, nil, r, Options{MemoryBytes: 64 << 20, WAL: true})
	defer func() { _ = b.Close() }()
	st := newMemShared()
	most, rewritten := 0, false
	var p statebackend.Persisted
	for id := int64(1); id <= maxLogSegments+5; id++ {
		fill(b, int(id)*10, 10)
		p = persist(t, b, id, id-1, st)
		for _, segs := range logSegments(t, p) {
			if len(segs) < most {
				rewritten = true
			}
			most = max(most, len(segs))
		}
	}
	if most != maxLogSegments || !rewritten {
		t.Fatalf("a log had at most %d segments, uploaded whole again: %v; want at most %d, then whole", most, rewritten, maxLogSegments)
	}
	if got, _ := restoredFrom(t, p, Source{Fetch: st.fetch}); !bytes.Equal(got, snapshotOf(t, b)) {
		t.Fatal("the last snapshot restores to other state")
	}
}

// A log whose bytes no longer match its base's segments is uploaded whole.
func TestAppendedTo(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 100)
	seg := func(off, size int64) SharedFile {
		return SharedFile{Name: "000001.log", Offset: off, Size: size, CRC: crc32.Checksum(data[off:off+size], castagnoli)}
	}
	appended := func(segs []SharedFile, data []byte) []SharedFile {
		return appendedTo(segs, bytes.NewReader(data), int64(len(data)))
	}
	segs := []SharedFile{seg(0, 300), seg(300, 200)}
	if got := appended(segs, data); len(got) != 2 {
		t.Errorf("a log that grew: kept %d of 2 segments", len(got))
	}
	if got := appended(segs, data[:499]); got != nil {
		t.Errorf("a log shorter than its segments: kept %v", got)
	}
	changed := bytes.Clone(data)
	changed[350] ^= 1
	if got := appended(segs, changed); got != nil {
		t.Errorf("a log whose second segment changed: kept %v", got)
	}
	if got := appended(nil, data); got != nil {
		t.Errorf("no base: kept %v", got)
	}
	// A segment longer than the checksum buffer is checked whole.
	long := bytes.Repeat([]byte("abcdefghij"), 100_000) // 1 MB: four buffers
	longSeg := SharedFile{Name: "000001.log", Size: int64(len(long)) - 10, CRC: crc32.Checksum(long[:len(long)-10], castagnoli)}
	if got := appended([]SharedFile{longSeg}, long); len(got) != 1 {
		t.Errorf("a long segment: kept %d of 1", len(got))
	}
	long[len(long)-11] ^= 1
	if got := appended([]SharedFile{longSeg}, long); got != nil {
		t.Errorf("a long segment changed in its last chunk: kept %v", got)
	}
}

// readLog reads only what a checkpoint uploads: the bytes after the
// base's segments, into the buffer it is given, or the whole log when
// they do not match.
func TestReadLog(t *testing.T) {
	fs := vfs.NewMem()
	data := bytes.Repeat([]byte("0123456789"), 100)
	writeFile(t, fs, "000001.log", data)
	seg := SharedFile{Name: "000001.log", Size: 600, CRC: crc32.Checksum(data[:600], castagnoli)}
	var buf []byte
	kept, from, tail, err := readLog(fs, "000001.log", []SharedFile{seg}, &buf)
	if err != nil || len(kept) != 1 || from != 600 || !bytes.Equal(tail, data[600:]) {
		t.Fatalf("after a matching segment: kept %d, from %d, %d bytes, %v; want 1, 600, the 400 after it", len(kept), from, len(tail), err)
	}
	if cap(buf) != 401 {
		t.Errorf("buffer of %d bytes for a tail of 400", cap(buf))
	}
	seg.CRC ^= 1
	kept, from, tail, err = readLog(fs, "000001.log", []SharedFile{seg}, &buf)
	if err != nil || kept != nil || from != 0 || !bytes.Equal(tail, data) {
		t.Fatalf("after a segment that does not match: kept %d, from %d, %d bytes, %v; want the whole log", len(kept), from, len(tail), err)
	}
	if _, _, _, err := readLog(fs, "000002.log", nil, &buf); err == nil || !strings.Contains(err.Error(), "000002.log") {
		t.Errorf("reading an absent log: %v, want an error naming it", err)
	}
}

// DecodeNative refuses shared files that do not make whole files: an SST
// in pieces or not from offset 0, a log's segments with a gap or overlap,
// files out of order, a file both inline and shared.
func TestDecodeNativeRefusesBadSegments(t *testing.T) {
	sst := func(name string) SharedFile { return SharedFile{Name: name, Object: "o-" + name, Size: 10} }
	log := func(off, size int64) SharedFile {
		return SharedFile{Name: "000003.log", Offset: off, Object: "o", Size: size}
	}
	good := Native{Inline: map[string][]byte{"MANIFEST-000001": {1}},
		Shared: []SharedFile{sst("000001.sst"), sst("000002.sst"), log(0, 10), log(10, 5), log(15, 1)}}
	if _, err := DecodeNative(good.encode()); err != nil {
		t.Fatalf("a valid manifest: %v", err)
	}
	for _, tc := range []struct {
		name   string
		shared []SharedFile
		inline string
		want   string
	}{
		{"gap", []SharedFile{log(0, 10), log(11, 5)}, "", "follows one ending at 10"},
		{"overlap", []SharedFile{log(0, 10), log(9, 5)}, "", "follows one ending at 10"},
		{"log not from 0", []SharedFile{log(4, 10)}, "", "starts at offset 4"},
		{"sst at an offset", []SharedFile{{Name: "000001.sst", Offset: 1, Size: 1}}, "", "starts at offset 1"},
		{"sst twice", []SharedFile{sst("000001.sst"), sst("000001.sst")}, "", "out of order"},
		{"out of order", []SharedFile{sst("000002.sst"), sst("000001.sst")}, "", "out of order"},
		{"other file", []SharedFile{sst("MANIFEST-000001")}, "", "shared file name"},
		{"inline and shared", []SharedFile{sst("000001.sst")}, "000001.sst", "shared file name"},
	} {
		n := Native{Inline: map[string][]byte{}, Shared: tc.shared}
		if tc.inline != "" {
			n.Inline[tc.inline] = []byte{1}
		}
		if _, err := DecodeNative(n.encode()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}

// A manifest written before logs were shared ("WKN1": no offsets, the log
// inline) still decodes.
func TestDecodeNativeVersion1(t *testing.T) {
	b := append([]byte(nil), nativeMagicV1...)
	b = binary.AppendUvarint(b, 0)   // key groups from
	b = binary.AppendUvarint(b, 128) // to
	b = binary.AppendUvarint(b, 1)   // states
	b = binary.AppendUvarint(b, uint64(statebackend.KindValue))
	b = appendBytes(b, []byte("count"))
	b = binary.AppendUvarint(b, 1) // inline files
	b = appendBytes(b, []byte("000004.log"))
	b = appendBytes(b, []byte("log bytes"))
	b = binary.AppendUvarint(b, 1) // shared files
	b = appendBytes(b, []byte("000005.sst"))
	b = appendBytes(b, []byte("shared/0123456789abcdef"))
	b = binary.AppendUvarint(b, 42)
	b = binary.BigEndian.AppendUint32(b, 7)
	if !IsNative(b) {
		t.Fatal("IsNative refuses a version 1 manifest")
	}
	n, err := DecodeNative(b)
	if err != nil {
		t.Fatal(err)
	}
	want := SharedFile{Name: "000005.sst", Object: "shared/0123456789abcdef", Size: 42, CRC: 7}
	if len(n.Shared) != 1 || n.Shared[0] != want || string(n.Inline["000004.log"]) != "log bytes" || n.Groups.End != 128 {
		t.Fatalf("decoded %+v", n)
	}
}
