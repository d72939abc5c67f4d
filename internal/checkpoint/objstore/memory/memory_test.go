package memory_test

import (
	"testing"

	"github.com/weirstream/weir/internal/checkpoint/objstore"
	"github.com/weirstream/weir/internal/checkpoint/objstore/memory"
	"github.com/weirstream/weir/internal/checkpoint/objstore/objstoretest"
)

func TestConformance(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Store { return memory.New() })
}

func TestConformanceNamed(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Store {
		t.Cleanup(func() { memory.Drop(t.Name()) })
		return memory.Named(t.Name())
	})
}

func TestNamedIsShared(t *testing.T) {
	ctx := t.Context()
	name := t.Name()
	t.Cleanup(func() { memory.Drop(name) })
	a, b := memory.Named(name), memory.Named(name)
	if err := a.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Get(ctx, "k"); err != nil || string(got) != "v" {
		t.Fatalf("other handle, after Close of the first: Get = %q, %v; want \"v\"", got, err)
	}
	if got, err := memory.New().List(ctx, ""); err != nil || len(got) != 0 {
		t.Fatalf("New store lists %q, %v; want nothing: New is not shared", got, err)
	}

	memory.Drop(name)
	if got, err := memory.Named(name).List(ctx, ""); err != nil || len(got) != 0 {
		t.Fatalf("after Drop, Named lists %q, %v; want a fresh store", got, err)
	}
	if _, err := b.Get(ctx, "k"); err != nil {
		t.Fatalf("after Drop, an old holder lost its object: %v", err)
	}
}
