package checkpoint

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/checkpoint/objstore"
)

// ErrCorrupt marks a snapshot object or metadata that fails its checksum
// or does not parse. Recovery never uses such state.
var ErrCorrupt = errors.New("checkpoint: corrupt")

// MetadataName is the name of the commit record in a snapshot directory.
const MetadataName = "_metadata"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Checksum is the CRC-32C of b, as stored in state handles and metadata.
func Checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

var metadataMagic = []byte("WEIRMETA")

const metadataVersion = 1

// maxMetadataSize bounds what DecodeMetadata accepts.
const maxMetadataSize = 256 << 20

// EncodeMetadata encodes the _metadata object:
//
//	"WEIRMETA" | uvarint version | uvarint len | CheckpointMetadata (protobuf) | crc32c (4 bytes, big endian, of everything before)
func EncodeMetadata(m *weirv1.CheckpointMetadata) ([]byte, error) {
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: encoding metadata: %w", err)
	}
	b := append([]byte(nil), metadataMagic...)
	b = binary.AppendUvarint(b, metadataVersion)
	b = binary.AppendUvarint(b, uint64(len(body)))
	b = append(b, body...)
	return binary.BigEndian.AppendUint32(b, Checksum(b)), nil
}

// DecodeMetadata decodes and verifies a _metadata object.
func DecodeMetadata(b []byte) (*weirv1.CheckpointMetadata, error) {
	if len(b) > maxMetadataSize {
		return nil, fmt.Errorf("%w: metadata of %d bytes exceeds %d", ErrCorrupt, len(b), maxMetadataSize)
	}
	if len(b) < len(metadataMagic)+4 || string(b[:len(metadataMagic)]) != string(metadataMagic) {
		return nil, fmt.Errorf("%w: metadata has no WEIRMETA header", ErrCorrupt)
	}
	payload, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if Checksum(payload) != sum {
		return nil, fmt.Errorf("%w: metadata checksum mismatch", ErrCorrupt)
	}
	rest := payload[len(metadataMagic):]
	v, n := binary.Uvarint(rest)
	if n <= 0 {
		return nil, fmt.Errorf("%w: metadata version", ErrCorrupt)
	}
	if v != metadataVersion {
		return nil, fmt.Errorf("checkpoint: metadata version %d is not supported (this build reads version %d)", v, metadataVersion)
	}
	rest = rest[n:]
	size, n := binary.Uvarint(rest)
	if n <= 0 || size != uint64(len(rest)-n) {
		return nil, fmt.Errorf("%w: metadata length", ErrCorrupt)
	}
	m := &weirv1.CheckpointMetadata{}
	if err := proto.Unmarshal(rest[n:], m); err != nil {
		return nil, fmt.Errorf("%w: metadata: %v", ErrCorrupt, err)
	}
	for _, op := range m.GetOperators() {
		for _, s := range op.GetSubtasks() {
			if err := ValidateObjectName(s.GetHandle().GetObject()); err != nil {
				return nil, fmt.Errorf("%w: metadata of operator %q: %v", ErrCorrupt, op.GetOperatorUid(), err)
			}
			for _, so := range s.GetHandle().GetSharedObjects() {
				if err := ValidateSharedObjectName(so); err != nil {
					return nil, fmt.Errorf("%w: metadata of operator %q: %v", ErrCorrupt, op.GetOperatorUid(), err)
				}
			}
		}
	}
	return m, nil
}

// ValidateSharedObjectName checks a shared object a state handle names:
// "shared/" and one path segment (NewSharedObject's form), within the job's
// shared directory. Restore reads such objects and retention deletes them,
// so a name leading elsewhere is refused when _metadata is read.
func ValidateSharedObjectName(name string) error {
	rest, ok := strings.CutPrefix(name, SharedDir+"/")
	if !ok || rest == "" || strings.Contains(rest, "/") {
		return fmt.Errorf("shared object %q: not the name of an object in the job's %s/ directory", name, SharedDir)
	}
	if err := objstore.ValidateKey(name); err != nil {
		return fmt.Errorf("shared object %q: %w", name, err)
	}
	return nil
}

// ValidateObjectName checks the object a state handle names: one path
// segment within the snapshot directory (ObjectName's form). A name with a
// '/', a "." or ".." segment, or anything else the object store refuses
// in a key could make a restore read outside the snapshot's directory, so
// every reader checks it before joining it to the directory.
func ValidateObjectName(name string) error {
	if name == "" || strings.Contains(name, "/") || name == MetadataName {
		return fmt.Errorf("state object %q: not the name of a state object in the snapshot directory", name)
	}
	if err := objstore.ValidateKey(name); err != nil {
		return fmt.Errorf("state object %q: %w", name, err)
	}
	return nil
}

// Section is one operator's state within a state object.
type Section struct {
	Keyed    []byte   // canonical keyed-state snapshot, or nil
	Elements [][]byte // operator list state
}

// maxElements bounds the element count a section may declare.
const maxElements = 1 << 24

// AppendSection encodes s:
//
//	section = uvarint len | keyed | uvarint n | (uvarint len | element)*
func AppendSection(dst []byte, s Section) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s.Keyed)))
	dst = append(dst, s.Keyed...)
	return appendElements(dst, s.Elements)
}

func appendElements(dst []byte, elements [][]byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(elements)))
	for _, e := range elements {
		dst = binary.AppendUvarint(dst, uint64(len(e)))
		dst = append(dst, e...)
	}
	return dst
}

// DecodeSection decodes a section. The result aliases b.
func DecodeSection(b []byte) (Section, error) {
	bad := func(what string) (Section, error) {
		return Section{}, fmt.Errorf("%w: state section: %s", ErrCorrupt, what)
	}
	var s Section
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) {
		return bad("keyed length")
	}
	if n > 0 {
		s.Keyed = b[w : w+int(n)]
	}
	b = b[w+int(n):]
	count, w := binary.Uvarint(b)
	if w <= 0 || count > maxElements || count > uint64(len(b)) {
		return bad("element count")
	}
	b = b[w:]
	s.Elements = make([][]byte, 0, count)
	for range count {
		n, w := binary.Uvarint(b)
		if w <= 0 || n > uint64(len(b)-w) {
			return bad("element length")
		}
		s.Elements = append(s.Elements, b[w:w+int(n)])
		b = b[w+int(n):]
	}
	if len(b) != 0 {
		return bad("trailing bytes")
	}
	return s, nil
}

// ReadSection cuts the section h names out of its object's bytes and
// verifies its checksum.
func ReadSection(object []byte, h *weirv1.StateHandle) (Section, error) {
	if h.GetOffset() < 0 || h.GetLength() < 0 || h.GetOffset()+h.GetLength() > int64(len(object)) {
		return Section{}, fmt.Errorf("%w: section [%d, +%d) outside object %s of %d bytes",
			ErrCorrupt, h.GetOffset(), h.GetLength(), h.GetObject(), len(object))
	}
	b := object[h.GetOffset() : h.GetOffset()+h.GetLength()]
	if Checksum(b) != h.GetCrc32C() {
		return Section{}, fmt.Errorf("%w: checksum mismatch in object %s", ErrCorrupt, h.GetObject())
	}
	return DecodeSection(b)
}

// ObjectBuilder assembles a subtask's state object from its operators'
// sections and returns their handles.
type ObjectBuilder struct {
	name    string
	buf     []byte
	handles []*weirv1.OperatorSubtaskState
}

// NewObjectBuilder starts the object named name (relative to the snapshot
// directory) in buf, whose contents it overwrites: the buffer of an earlier
// object, once written, or nil.
func NewObjectBuilder(name string, buf []byte) *ObjectBuilder {
	return &ObjectBuilder{name: name, buf: buf[:0]}
}

// Add appends the section of operator uid, subtask index.
func (o *ObjectBuilder) Add(uid string, subtask int, s Section) {
	start := len(o.buf)
	o.buf = AppendSection(o.buf, s)
	o.addHandle(uid, subtask, start)
}

// AddEncoded appends the section of operator uid, subtask index, whose
// keyed state appendKeyed appends to the object: encoded in place rather
// than copied in, so that a large state is not held twice. It returns the
// keyed state's length.
func (o *ObjectBuilder) AddEncoded(uid string, subtask int, appendKeyed func(dst []byte) ([]byte, error), elements [][]byte) (int, error) {
	start := len(o.buf)
	// The keyed state's length comes first, but is known only once it is
	// encoded: room is left for the length of a state filling the buffer,
	// and the state moved if its length takes another number of bytes.
	room := uvarintLen(uint64(cap(o.buf) - start))
	buf, err := appendKeyed(append(o.buf, make([]byte, room)...))
	if err != nil {
		o.buf = o.buf[:start]
		return 0, err
	}
	n := len(buf) - start - room
	if w := uvarintLen(uint64(n)); w != room {
		if w > room {
			buf = slices.Grow(buf, w-room)
		}
		keyed := buf[start+room : start+room+n]
		buf = buf[:start+w+n]
		copy(buf[start+w:], keyed)
	}
	binary.PutUvarint(buf[start:], uint64(n))
	o.buf = appendElements(buf, elements)
	o.addHandle(uid, subtask, start)
	return n, nil
}

func uvarintLen(x uint64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], x)
}

// addHandle records the handle of the section from start to the end of
// the object.
func (o *ObjectBuilder) addHandle(uid string, subtask int, start int) {
	sec := o.buf[start:]
	o.handles = append(o.handles, &weirv1.OperatorSubtaskState{OperatorUid: uid, SubtaskIndex: int32(subtask),
		Handle: &weirv1.StateHandle{Object: o.name, Offset: int64(start), Length: int64(len(sec)), Crc32C: Checksum(sec)}})
}

// Bytes returns the object.
func (o *ObjectBuilder) Bytes() []byte { return o.buf }

// Handles returns the handles of the sections added.
func (o *ObjectBuilder) Handles() []*weirv1.OperatorSubtaskState { return o.handles }
