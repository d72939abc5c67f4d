package pebble

import (
	"encoding/binary"
	"fmt"

	"github.com/weirstream/weir/internal/statebackend"
)

// The key layout (doc.go has the why):
//
//	pebble key = kg (2 bytes, big endian) | state (2 bytes, big endian) | uvarint len(key) | key | [userKey]
//
// The first four bytes make a fixed-width header; keyPrefix is everything
// up to and including key, the prefix every entry of one key's state shares.

const (
	headerLen = 4
	// maxStates is the number of states a backend can hold: a state ID is
	// two bytes of the key.
	maxStates = 1 << 16
	// maxKeyGroup bounds the key groups a key can name: two bytes.
	maxKeyGroup = 1 << 16
)

// appendKeyPrefix appends the prefix of key's state s in key group kg.
func appendKeyPrefix(dst []byte, kg int, s statebackend.StateID, key []byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(kg))
	dst = binary.BigEndian.AppendUint16(dst, uint16(s))
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	return append(dst, key...)
}

// setState overwrites the state ID of a key prefix in place.
func setState(prefix []byte, s statebackend.StateID) {
	binary.BigEndian.PutUint16(prefix[2:headerLen], uint16(s))
}

// appendKeyGroupStart appends the smallest key of key group kg: the bounds
// of a key-group range are [appendKeyGroupStart(start), appendKeyGroupStart(end)).
func appendKeyGroupStart(dst []byte, kg int) []byte {
	return binary.BigEndian.AppendUint16(dst, uint16(kg))
}

// appendPrefixEnd appends the smallest key greater than every key that
// starts with prefix. A prefix starts with a key group below 2^15, so it is
// never all 0xff bytes and the end always exists.
func appendPrefixEnd(dst, prefix []byte) []byte {
	end := len(prefix)
	for end > 0 && prefix[end-1] == 0xff {
		end--
	}
	dst = append(dst, prefix[:end]...)
	dst[len(dst)-1]++
	return dst
}

// decodedKey is a Pebble key taken apart; its slices alias the key.
type decodedKey struct {
	kg      int
	state   statebackend.StateID
	key     []byte
	userKey []byte // whatever follows key: empty except for map state
}

func decodeKey(k []byte) (decodedKey, error) {
	if len(k) < headerLen {
		return decodedKey{}, fmt.Errorf("pebble: key %x shorter than its header", k)
	}
	d := decodedKey{
		kg:    int(binary.BigEndian.Uint16(k)),
		state: statebackend.StateID(binary.BigEndian.Uint16(k[2:])),
	}
	n, w := binary.Uvarint(k[headerLen:])
	rest := k[headerLen:]
	if w <= 0 || uint64(len(rest)-w) < n {
		return decodedKey{}, fmt.Errorf("pebble: key %x has a malformed key length", k)
	}
	rest = rest[w:]
	d.key, d.userKey = rest[:n], rest[n:]
	return d, nil
}
