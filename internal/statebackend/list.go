package statebackend

import (
	"encoding/binary"
	"errors"
)

// The encoded form of a list, as KindList states store it: each element
// prefixed with its length as an unsigned varint.

// ErrCorruptList is returned when an encoded list cannot be split into elements.
var ErrCorruptList = errors.New("statebackend: corrupt encoded list")

// AppendListElement appends elem, length-prefixed, to an encoded list.
func AppendListElement(list, elem []byte) []byte {
	list = binary.AppendUvarint(list, uint64(len(elem)))
	return append(list, elem...)
}

// RangeList calls fn for each element of an encoded list until fn returns false.
func RangeList(list []byte, fn func(elem []byte) bool) error {
	for len(list) > 0 {
		n, w := binary.Uvarint(list)
		if w <= 0 || uint64(len(list)-w) < n {
			return ErrCorruptList
		}
		list = list[w:]
		if !fn(list[:n]) {
			return nil
		}
		list = list[n:]
	}
	return nil
}
