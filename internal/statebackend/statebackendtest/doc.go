// Package statebackendtest is the conformance suite for
// statebackend.KeyedBackend. Every backend (heap/ and pebble/)
// runs the same suite from its own tests:
//
//	func TestConformance(t *testing.T) {
//		statebackendtest.Run(t, func(t *testing.T, r keygroup.Range) statebackend.KeyedBackend {
//			return heap.New(r)
//		})
//	}
//
// The suite pins the contract written on the interface, not one backend's
// behaviour: registration, scoping of every call to the current key and key
// group, copying of caller buffers, the encoded list format (see
// statebackend.AppendListElement), map iteration and clearing, and the
// difference between an empty value and an absent one. Both backends passing
// it is what lets a savepoint move state from one to the other.
//
// Keys are chosen to catch the bugs of an encoded key layout as well as of
// maps: keys that are prefixes of one another, keys with zero bytes, the
// empty key, and key/user-key pairs whose concatenations collide.
package statebackendtest
