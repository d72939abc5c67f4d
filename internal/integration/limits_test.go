package integration

import (
	"path/filepath"
	"strings"
	"testing"
)

// The jobmanager process reads its limits from its configuration: each
// refusal names the option, the rate limit counts every submission, and a
// valid job within the limits runs.
func TestSubmissionLimitsFromConfiguration(t *testing.T) {
	c := startCluster(t, 1, 2, "-D", "jobmanager.job.max-parallelism=1", "-D", "jobmanager.checkpointing.min-interval=1s",
		"-D", "jobmanager.submission.rate=0.001", "-D", "jobmanager.submission.burst=4")
	text := hamlet(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"parallelism", []string{"run", "-p", "2", "wordcount", "--input", text},
			"rejected: parallelism: 2 exceeds the limit 1 (jobmanager.job.max-parallelism)"},
		{"checkpoint interval", []string{"run", "-D", "execution.checkpointing.interval=500ms", "wordcount", "--input", text},
			"execution.checkpointing.interval: 500ms is below the cluster's floor of 1s (jobmanager.checkpointing.min-interval)"},
		{"storage", []string{"run", "-D", "execution.checkpointing.interval=1s", "-D", "state.checkpoints.dir=s3://elsewhere/weir", "wordcount", "--input", text},
			"permission denied: rejected: config: state.checkpoints.dir: objstore: storage location outside the allowed prefixes: s3://elsewhere/weir is not under"},
	} {
		stdout, stderr, err := c.weir(tc.args...)
		if err == nil || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: %v, stdout %q\nstderr does not say %q:\n%s", tc.name, err, stdout, tc.want, stderr)
		}
	}
	out := filepath.Join(t.TempDir(), "out")
	if stdout, stderr, err := c.weir("run", "-p", "1", "wordcount", "--input", text, "--output", out); err != nil {
		t.Fatalf("a valid job within the limits: %v\n%s\n%s", err, stdout, stderr)
	}
	// Four submissions took the burst.
	_, stderr, err := c.weir("run", "-p", "1", "wordcount", "--input", text, "--output", out)
	if err == nil || !strings.Contains(stderr, "too many submissions") || !strings.Contains(stderr, "retry in ") {
		t.Fatalf("the fifth submission: %v\n%s", err, stderr)
	}
}
