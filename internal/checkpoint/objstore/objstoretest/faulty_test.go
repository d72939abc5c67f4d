package objstoretest_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/weirstream/weir/internal/checkpoint/objstore"
	"github.com/weirstream/weir/internal/checkpoint/objstore/memory"
	"github.com/weirstream/weir/internal/checkpoint/objstore/objstoretest"
)

func TestConformanceWithoutFaults(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Store {
		return objstoretest.Wrap(memory.New(), nil)
	})
}

func TestFailAtNotApplied(t *testing.T) {
	ctx := t.Context()
	mem := memory.New()
	s := objstoretest.Wrap(mem, objstoretest.FailAt(1, objstoretest.ErrInjected, false))
	if err := s.Put(ctx, "a", []byte("1")); err != nil {
		t.Fatalf("call 0: %v", err)
	}
	if err := s.Put(ctx, "b", []byte("2")); !errors.Is(err, objstoretest.ErrInjected) {
		t.Fatalf("call 1 = %v, want the injected error", err)
	}
	if err := s.Put(ctx, "c", []byte("3")); err != nil {
		t.Fatalf("call 2: %v", err)
	}
	if got, _ := mem.List(ctx, ""); !slices.Equal(got, []string{"a", "c"}) {
		t.Fatalf("stored %q: the failed, unapplied put must not land", got)
	}
	want := []objstoretest.Op{{objstoretest.OpPut, "a", 0}, {objstoretest.OpPut, "b", 1}, {objstoretest.OpPut, "c", 2}}
	if got := s.Ops(); !slices.Equal(got, want) || s.Calls() != 3 {
		t.Fatalf("ops = %v (calls %d), want %v", got, s.Calls(), want)
	}
}

func TestFailAtApplied(t *testing.T) {
	ctx := t.Context()
	mem := memory.New()
	s := objstoretest.Wrap(mem, objstoretest.FailAt(0, objstoretest.ErrInjected, true))
	if err := s.PutIfAbsent(ctx, "_metadata", []byte("m")); !errors.Is(err, objstoretest.ErrInjected) {
		t.Fatalf("PutIfAbsent = %v, want the injected error", err)
	}
	if got, err := mem.Get(ctx, "_metadata"); err != nil || string(got) != "m" {
		t.Fatalf("stored %q, %v: an applied fault's write must land", got, err)
	}
}

// TestAppliedFaultOnFailingCall: when the real call fails, the caller sees
// its error, not the injected one.
func TestAppliedFaultOnFailingCall(t *testing.T) {
	ctx := t.Context()
	mem := memory.New()
	_ = mem.Put(ctx, "k", nil)
	s := objstoretest.Wrap(mem, objstoretest.FailWhen(func(objstoretest.Op) bool { return true }, objstoretest.ErrInjected, true))
	if err := s.PutIfAbsent(ctx, "k", []byte("x")); !errors.Is(err, objstore.ErrExist) {
		t.Fatalf("PutIfAbsent = %v, want the real ErrExist", err)
	}
	if body, err := s.Get(ctx, "k"); body != nil || !errors.Is(err, objstoretest.ErrInjected) {
		t.Fatalf("Get = %q, %v; want nil and the injected error", body, err)
	}
	if keys, err := s.List(ctx, ""); keys != nil || !errors.Is(err, objstoretest.ErrInjected) {
		t.Fatalf("List = %q, %v; want nil and the injected error", keys, err)
	}
	if err := s.Delete(ctx, "k"); !errors.Is(err, objstoretest.ErrInjected) {
		t.Fatalf("Delete = %v", err)
	}
	if _, err := mem.Get(ctx, "k"); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("applied Delete did not land: %v", err)
	}
}

func TestRuleSeesEveryOp(t *testing.T) {
	ctx := t.Context()
	var seen []objstoretest.Op
	s := objstoretest.Wrap(memory.New(), func(op objstoretest.Op) *objstoretest.Fault {
		seen = append(seen, op)
		return nil
	})
	_, _ = s.Get(ctx, "g")
	_ = s.Put(ctx, "p", nil)
	_ = s.PutIfAbsent(ctx, "pia", nil)
	_, _ = s.List(ctx, "l/")
	_ = s.Delete(ctx, "d")
	_ = s.DeletePrefix(ctx, "dp/")
	_ = s.Close()
	want := []objstoretest.Op{
		{objstoretest.OpGet, "g", 0},
		{objstoretest.OpPut, "p", 1},
		{objstoretest.OpPutIfAbsent, "pia", 2},
		{objstoretest.OpList, "l/", 3},
		{objstoretest.OpDelete, "d", 4},
		{objstoretest.OpDeletePrefix, "dp/", 5},
	}
	if !slices.Equal(seen, want) || !slices.Equal(s.Ops(), want) {
		t.Fatalf("rule saw %v, Ops %v; want %v (Close is not an op)", seen, s.Ops(), want)
	}
	var names []string
	for _, op := range want {
		names = append(names, op.Kind.String())
	}
	if fmt.Sprint(names) != "[get put put-if-absent list delete delete-prefix]" {
		t.Fatalf("kind names %v", names)
	}
}

func TestSetRule(t *testing.T) {
	ctx := t.Context()
	s := objstoretest.Wrap(memory.New(), nil)
	if err := s.Put(ctx, "a", nil); err != nil {
		t.Fatal(err)
	}
	s.SetRule(objstoretest.FailAt(1, objstoretest.ErrInjected, false))
	if err := s.Put(ctx, "b", nil); !errors.Is(err, objstoretest.ErrInjected) {
		t.Fatalf("after SetRule, call 1 = %v", err)
	}
	s.SetRule(nil)
	if err := s.Put(ctx, "c", nil); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentCallsGetDistinctIndices(t *testing.T) {
	s := objstoretest.Wrap(memory.New(), nil)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() { _ = s.Put(t.Context(), fmt.Sprintf("k%d", i), nil) })
	}
	wg.Wait()
	for i, op := range s.Ops() {
		if op.Index != i {
			t.Fatalf("ops[%d].Index = %d", i, op.Index)
		}
	}
	if s.Calls() != 50 {
		t.Fatalf("calls = %d", s.Calls())
	}
}

// publish is a toy commit protocol: state first, then the metadata that
// references it, with PutIfAbsent. It stands in for the checkpoint driver.
func publish(ctx context.Context, s objstore.Store) error {
	if err := s.Put(ctx, "chk-2/state", []byte("state")); err != nil {
		return err
	}
	return s.PutIfAbsent(ctx, "chk-2/_metadata", []byte("refs chk-2/state"))
}

// TestSingleFaultSweep shows the sweep the package documents: whatever one
// call fails, applied or not, metadata never exists without its state, and
// the sweep ends once the fault index passes the last call.
func TestSingleFaultSweep(t *testing.T) {
	ctx := t.Context()
	for _, applied := range []bool{false, true} {
		runs := 0
		for i := 0; ; i++ {
			mem := memory.New()
			s := objstoretest.Wrap(mem, objstoretest.FailAt(i, objstoretest.ErrInjected, applied))
			err := publish(ctx, s)
			runs++

			_, metaErr := mem.Get(ctx, "chk-2/_metadata")
			_, stateErr := mem.Get(ctx, "chk-2/state")
			if metaErr == nil && stateErr != nil {
				t.Fatalf("fault at %d (applied %t): metadata published without its state", i, applied)
			}
			if err == nil && metaErr != nil {
				t.Fatalf("fault at %d (applied %t): publish succeeded but nothing was published", i, applied)
			}
			if i >= s.Calls() {
				if err != nil {
					t.Fatalf("fault at %d was never reached, yet publish failed: %v", i, err)
				}
				break
			}
			if !errors.Is(err, objstoretest.ErrInjected) {
				t.Fatalf("fault at %d (applied %t): publish = %v, want the injected error", i, applied, err)
			}
		}
		if runs != 3 {
			t.Fatalf("applied %t: %d runs, want 3 (two calls, then one past the end)", applied, runs)
		}
	}
}
