package jobmanager

import (
	"testing"

	"google.golang.org/protobuf/proto"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/plan"
)

// FuzzSubmitGraph checks submitted job graphs (protobuf) as SubmitJob
// does: any bytes are refused with an error or planned, never a panic.
func FuzzSubmitGraph(f *testing.F) {
	seed := &weirv1.SubmitJobRequest{Job: &weirv1.SubmitJobRequest_Graph{Graph: &weirv1.JobGraph{
		Name: "g", MaxParallelism: 128,
		Operators: []*weirv1.Operator{
			{Id: 0, Name: "src", Kind: weirv1.OperatorKind_OPERATOR_KIND_SOURCE, Function: &weirv1.Function{Name: "weir.generator"}, Parallelism: 2},
			{Id: 1, Name: "sink", Kind: weirv1.OperatorKind_OPERATOR_KIND_SINK, Function: &weirv1.Function{Name: "weir.print"}, Parallelism: 1,
				Inputs: []*weirv1.Input{{OperatorId: 0, Partitioning: weirv1.Partitioning_PARTITIONING_REBALANCE}}},
		},
	}}, Config: map[string]string{"execution.checkpointing.interval": "1s"}}
	b, err := proto.Marshal(seed)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte{0x0a, 0x00})
	jm := New(Options{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var req weirv1.SubmitJobRequest
		if proto.Unmarshal(b, &req) != nil || req.GetGraph() == nil {
			return
		}
		g, err := jm.graphOf(&req)
		if err != nil {
			return
		}
		_, _ = plan.Build(g)
	})
}
