package coordinator_test

import (
	"go/build"
	"strings"
	"testing"
)

// TestImports keeps the coordinator a pure state machine: it may import only
// the standard library, and none of it that does I/O, reads time or
// randomness, synchronises goroutines or logs. Anything that needs those
// belongs to the owner (internal/jobmaster), which carries out the effects.
func TestImports(t *testing.T) {
	forbidden := []string{
		"os", "net", "time", "sync", "syscall", "io/fs", "io/ioutil", "log",
		"math/rand", "crypto/rand", "runtime", "unsafe", "context", "plugin",
	}
	for _, tags := range [][]string{nil, {"invariants"}} {
		ctx := build.Default
		ctx.BuildTags = tags
		pkg, err := ctx.ImportDir(".", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(pkg.Imports) == 0 {
			t.Fatalf("tags %v: no imports found; is the test looking at the right package?", tags)
		}
		for _, imp := range pkg.Imports {
			if first, _, _ := strings.Cut(imp, "/"); strings.Contains(first, ".") {
				t.Errorf("tags %v: imports %q: only the standard library is allowed (no gRPC, no storage, no other package of this module)", tags, imp)
				continue
			}
			for _, f := range forbidden {
				if imp == f || strings.HasPrefix(imp, f+"/") {
					t.Errorf("tags %v: imports %q: no I/O, clocks, randomness, locks or logging in a pure state machine", tags, imp)
				}
			}
		}
	}
}
