package jobspec

import (
	"os"
	"testing"

	"github.com/weirstream/weir/internal/plan"
)

// FuzzDecode reads job specs (YAML): bad input is an error that names the
// problem, never a panic, and a spec that decodes plans or is refused by
// the planner with an error.
func FuzzDecode(f *testing.F) {
	if b, err := os.ReadFile("../../examples/wordcount/wordcount.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("name: x\noperators:\n  - {id: a, source: s}\n  - {id: b, sink: k, input: {from: a, keyBy: w}}\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Add([]byte("parallelism: 99999999999999999999\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Decode(data)
		if err != nil {
			return
		}
		_, _ = plan.Build(g)
	})
}
