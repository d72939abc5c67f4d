// Package objstoretest tests object stores and tests with them.
//
// Run is the conformance suite every objstore.Store implementation passes,
// called from the implementation's own tests:
//
//	func TestConformance(t *testing.T) {
//		objstoretest.Run(t, func(t *testing.T) objstore.Store { return memory.New() })
//	}
//
// It pins the contract written on objstore.Store rather than one store's
// behaviour: copy semantics, atomic overwrite under concurrent readers,
// exclusivity of PutIfAbsent among racers, list order and string-prefix
// matching over nested keys, idempotent deletes, the key rules, and
// context cancellation.
//
// FaultyStore wraps a store and injects faults by rule, including the one
// that breaks most commit protocols: the write landed, but the caller saw an
// error. With FailAt it drives single-fault sweeps: fail call i, for every i
// until the fault is no longer reached, and check the invariants after each
// run:
//
//	for i := 0; ; i++ {
//		store := objstoretest.Wrap(memory.New(), objstoretest.FailAt(i, errInjected, applied))
//		runCheckpoint(store) // may fail
//		checkInvariants(store)
//		if i >= store.Calls() {
//			break // call i was never made: every call has had its fault
//		}
//	}
package objstoretest
