package windowwordcount

import (
	"slices"
	"strings"
	"testing"

	"github.com/weirstream/weir/stream"
)

type words []Word

func (w *words) Collect(v Word) { *w = append(*w, v) }

func TestParse(t *testing.T) {
	var got words
	if err := (Parse{}).FlatMap("1700000000123,To be, or NOT", &got); err != nil {
		t.Fatal(err)
	}
	want := words{{"to", 1700000000123}, {"be", 1700000000123}, {"or", 1700000000123}, {"not", 1700000000123}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"no timestamp here", "12x,text", ",text"} {
		err := (Parse{}).FlatMap(bad, &got)
		if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "epoch_millis,text") {
			t.Errorf("%q: err = %v, want one quoting the line and the expected format", bad, err)
		}
	}
}

func TestBuildRejectsBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "--input is required"},
		{[]string{"--input", "x", "--window", "0s"}, "--window"},
		{[]string{"--input", "x", "--out-of-orderness", "-1s"}, "--out-of-orderness"},
	} {
		err := Build(stream.NewEnv(), c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want one naming %s", c.args, err, c.want)
		}
	}
	env, err := stream.BuildProgram("window-wordcount", []string{"--input", t.TempDir(), "--window", "10s"}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Graph(); err != nil {
		t.Fatal(err)
	}
}
