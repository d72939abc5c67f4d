package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/checkpoint"
	"github.com/weirstream/weir/internal/checkpoint/objstore"
	"github.com/weirstream/weir/internal/checkpoint/objstore/miniotest"
)

// incrementalPebble configures a job for incremental checkpoints on
// Pebble with memtables of about 85 KB, so that the few MB a test job
// writes spill into SSTs that the checkpoints share, as a large state's
// writes do with the default budget: in 5 MB memtables they would all stay
// in the write-ahead log, copied into every checkpoint.
var incrementalPebble = []string{"-D", "state.backend=pebble", "-D", "state.backend.incremental=true", "-D", "state.backend.pebble.memory=1mb"}

// incrementalHeap configures a job for incremental checkpoints on the heap:
// a full snapshot, then deltas of the keys written.
var incrementalHeap = []string{"-D", "state.backend.incremental=true"}

// killTest runs WordCount at parallelism 2 on two taskmanager processes
// with one slot each, rate-limited to run for about 20 s, checkpointing
// every second into storage. After two completed checkpoints one
// taskmanager is killed with SIGKILL and a fresh one starts; the job
// finishes, and the output is checked against a reference.
type killTest struct {
	storage     string   // state.checkpoints.dir
	env         []string // credentials for the processes
	mode        string   // execution.checkpointing.mode
	exactlyOnce bool     // check exactly one output line per input word
	job         []string // extra job settings (-D key=value)
	// localRecovery turns on state.backend.local-recovery and restarts
	// the killed taskmanager with its data dir and id instead of starting
	// a fresh one: every subtask must restore from its local copy.
	localRecovery bool
	// secure runs the cluster with mutual TLS and tokens (certs from
	// writeCerts); nil for plaintext.
	secure *certs
	// secrets must appear in no process's log and no API answer.
	secrets []string
	// incremental runs with two checkpoints retained, and checks after
	// the job that storage holds exactly what the retained checkpoints
	// reference (read with storeOpts); job turns on
	// state.backend.incremental (incrementalPebble, incrementalHeap).
	incremental bool
	storeOpts   objstore.Options
}

func (k killTest) run(t *testing.T) {
	hb := []string{"-D", "heartbeat.interval=200ms", "-D", "heartbeat.timeout=3s"}
	c, jmArgs := &cluster{}, hb
	if k.secure != nil {
		c = k.secure.secure()
		jmArgs = append(k.secure.roleArgs("jobmanager"), hb...)
	}
	c.env = append(c.env, k.env...)
	c.tmArgs = append(c.tmArgs, hb...)
	c = startClusterWith(t, c, 2, 1, jmArgs...)
	dir := t.TempDir()
	input := filepath.Join(dir, "text.txt")
	want, total := writeText(t, input, 20_000)
	lines := strings.Count(readFile(t, input), "\n")
	rate := lines / 20 // about 20 s
	out := filepath.Join(dir, "out")
	job := k.job
	if k.localRecovery {
		job = append(slices.Clone(job), "-D", "state.backend.local-recovery=true")
	}
	if k.incremental {
		job = append(slices.Clone(job), "-D", "state.checkpoints.num-retained=2")
	}
	stdout, stderr, err := c.weir(append(append([]string{"run", "-d", "-p", "2",
		"-D", "execution.checkpointing.interval=1s",
		"-D", "execution.checkpointing.mode=" + k.mode,
		"-D", "state.checkpoints.dir=" + k.storage,
		"-D", "restart-strategy.fixed-delay.delay=500ms"}, job...),
		"wordcount", "--input", input, "--rate", strconv.Itoa(rate), "--output", out)...)
	if err != nil {
		t.Fatalf("weir run: %v\n%s", err, stderr)
	}
	id := jobID(t, stdout)
	client := c.client()
	eventually(t, 60*time.Second, func() (bool, string) {
		cps, err := client.ListCheckpoints(context.Background(), &weirv1.ListCheckpointsRequest{JobId: id})
		if err != nil {
			return false, err.Error()
		}
		return cps.GetLatestCompletedId() >= 2, fmt.Sprintf("latest completed checkpoint %d", cps.GetLatestCompletedId())
	})
	victim := c.tms[1]
	victim.kill()
	killed := time.Now()
	t.Logf("killed %s with SIGKILL", victim.name)
	if k.localRecovery {
		c.restartTaskManager(victim)
	} else {
		c.addTaskManager(1, hb...)
	}

	var restored, firstCheckpoint time.Duration
	var before int64
	if cps, err := client.ListCheckpoints(context.Background(), &weirv1.ListCheckpointsRequest{JobId: id}); err == nil {
		before = cps.GetLatestCompletedId()
	}
	eventually(t, 120*time.Second, func() (bool, string) {
		j := c.job(id).GetJob()
		if restored == 0 && j.GetRestarts() > 0 && j.GetStatus() == weirv1.JobStatus_JOB_STATUS_RUNNING {
			restored = time.Since(killed)
		}
		if firstCheckpoint == 0 && restored > 0 {
			if cps, err := client.ListCheckpoints(context.Background(), &weirv1.ListCheckpointsRequest{JobId: id}); err == nil &&
				cps.GetLatestCompletedId() > before {
				firstCheckpoint = time.Since(killed)
			}
		}
		switch j.GetStatus() {
		case weirv1.JobStatus_JOB_STATUS_FAILED, weirv1.JobStatus_JOB_STATUS_CANCELED:
			t.Fatalf("job ended %v: %s", j.GetStatus(), j.GetStatusMessage())
		}
		return j.GetStatus() == weirv1.JobStatus_JOB_STATUS_FINISHED, fmt.Sprintf("job is %v: %s", j.GetStatus(), j.GetStatusMessage())
	})
	j := c.job(id).GetJob()
	if j.GetRestarts() < 1 {
		t.Fatal("the job finished without restarting")
	}
	if !strings.Contains(c.jm.log.String(), "restoring") {
		t.Fatal("the jobmanager did not restore from a checkpoint")
	}
	if k.localRecovery {
		checkLocalRestores(t, c)
	}
	lines2 := readOutput(t, out)
	if k.exactlyOnce {
		checkCounts(t, lines2, want, total)
	} else {
		checkFinalCounts(t, lines2, want)
	}
	if len(k.secrets) > 0 {
		checkNoSecrets(t, c, id, k.secrets)
	}
	if k.incremental {
		checkOnlyRetained(t, k.storage, k.storeOpts, id, 2)
		checkIncrementalUploads(t, client, id)
	}
	t.Logf("%d words; %d output lines; kill -> running again %s, -> first checkpoint after restore %s",
		total, len(lines2), restored.Round(time.Millisecond), firstCheckpoint.Round(time.Millisecond))
	if cps, err := client.ListCheckpoints(context.Background(), &weirv1.ListCheckpointsRequest{JobId: id}); err == nil {
		var ms []int64
		var size, align int64
		for _, cp := range cps.GetCheckpoints() {
			if cp.GetStatus() == weirv1.CheckpointStatus_CHECKPOINT_STATUS_COMPLETED {
				ms = append(ms, cp.GetDurationMillis())
				size = max(size, cp.GetStateSize())
				align = max(align, cp.GetAlignmentMillis())
			}
		}
		slices.Sort(ms)
		if len(ms) > 0 {
			t.Logf("%d completed checkpoints: duration p50 %d ms, max %d ms; state up to %d bytes; alignment up to %d ms",
				len(ms), ms[len(ms)/2], ms[len(ms)-1], size, align)
		}
	}
}

// checkOnlyRetained waits (bounded) until the storage of job holds
// exactly its retained checkpoints: retained completed checkpoints, each
// with its _metadata and state objects, and under shared/ exactly the
// objects they reference — nothing of discarded or failed checkpoints.
func checkOnlyRetained(t *testing.T, storage string, opts objstore.Options, job string, retained int) {
	t.Helper()
	ctx := context.Background()
	st, err := objstore.Open(ctx, storage, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	var live map[string]bool
	eventually(t, 30*time.Second, func() (bool, string) {
		ids, err := checkpoint.Completed(ctx, st, job)
		if err != nil {
			return false, err.Error()
		}
		if live, err = checkpoint.LiveShared(ctx, st, job); err != nil {
			return false, err.Error()
		}
		keys, err := st.List(ctx, job+"/")
		if err != nil {
			return false, err.Error()
		}
		if len(ids) != retained {
			return false, fmt.Sprintf("%d completed checkpoints %v, want %d", len(ids), ids, retained)
		}
		shared := 0
		for _, k := range keys {
			rest := strings.TrimPrefix(k, job+"/")
			seg, _, _ := strings.Cut(rest, "/")
			if seg == checkpoint.SharedDir {
				if !live[rest] {
					return false, fmt.Sprintf("%s is referenced by no retained checkpoint", k)
				}
				shared++
				continue
			}
			if id, ok := checkpoint.ParseCheckpointDir(seg); !ok || !slices.Contains(ids, id) {
				return false, fmt.Sprintf("%s belongs to no retained checkpoint", k)
			}
		}
		if shared != len(live) {
			return false, fmt.Sprintf("%d shared objects stored, %d referenced", shared, len(live))
		}
		return true, ""
	})
	if len(live) == 0 {
		t.Fatal("the retained checkpoints reference no shared objects: they are not incremental")
	}
	t.Logf("storage holds %d retained checkpoints and the %d shared objects they reference", retained, len(live))
}

// checkIncrementalUploads checks that incremental checkpoints reference
// files uploaded before: some completed checkpoint after the first
// uploaded less than its state. What it uploads includes its sections,
// which hold the inline files (the write-ahead log's copy among them), so
// the rest of its state is SSTs it referenced without uploading them.
func checkIncrementalUploads(t *testing.T, client weirv1.JobManagerServiceClient, job string) {
	t.Helper()
	cps, err := client.ListCheckpoints(context.Background(), &weirv1.ListCheckpointsRequest{JobId: job})
	if err != nil {
		t.Fatal(err)
	}
	var first int64
	for _, cp := range cps.GetCheckpoints() {
		if cp.GetStatus() != weirv1.CheckpointStatus_CHECKPOINT_STATUS_COMPLETED || cp.GetKind() != weirv1.SnapshotKind_SNAPSHOT_KIND_CHECKPOINT {
			continue
		}
		if first == 0 {
			first = cp.GetCheckpointId()
			continue
		}
		if up := cp.GetUploadedSize(); up > 0 && up < cp.GetStateSize() {
			t.Logf("checkpoint %d uploaded %d bytes of its %d", cp.GetCheckpointId(), up, cp.GetStateSize())
			return
		}
	}
	t.Fatal("no incremental checkpoint uploaded less than its state")
}

var restoredState = regexp.MustCompile(`restored state.*local_copy_bytes=(\d+) downloaded_bytes=(\d+)`)

// checkLocalRestores checks that every subtask that restored state read
// it from its taskmanager's local copy and downloaded nothing.
func checkLocalRestores(t *testing.T, c *cluster) {
	t.Helper()
	n := 0
	for _, p := range c.tms {
		for _, m := range restoredState.FindAllStringSubmatch(p.log.String(), -1) {
			n++
			if m[1] == "0" || m[2] != "0" {
				t.Errorf("%s: a subtask restored %s bytes from its local copy and downloaded %s", p.name, m[1], m[2])
			}
		}
	}
	if n == 0 {
		t.Fatal("no subtask restored state")
	}
	t.Logf("%d subtasks restored from their local copies", n)
}

// checkFinalCounts verifies at-least-once WordCount output: duplicates are
// allowed, but every word counts to exactly its reference count, through
// every count from 1.
func checkFinalCounts(t *testing.T, lines []string, want map[string]int64) {
	t.Helper()
	seen := map[string]map[int64]bool{}
	for _, l := range lines {
		i := strings.LastIndexByte(l, ',')
		n, err := strconv.ParseInt(l[i+1:], 10, 64)
		if i < 0 || err != nil {
			t.Fatalf("malformed output line %q", l)
		}
		if seen[l[:i]] == nil {
			seen[l[:i]] = map[int64]bool{}
		}
		seen[l[:i]][n] = true
	}
	for w, n := range want {
		for k := int64(1); k <= n; k++ {
			if !seen[w][k] {
				t.Fatalf("word %q never counted to %d (final count %d)", w, k, n)
			}
		}
		if seen[w][n+1] {
			t.Fatalf("word %q counted past its %d occurrences", w, n)
		}
	}
}

// s3Env is the environment that points the processes' checkpoint storage
// at the MinIO server at endpoint.
func s3Env(endpoint, key, secret string) []string {
	return []string{"WEIR_S3_ENDPOINT=" + endpoint, "WEIR_S3_PATH_STYLE_ACCESS=true",
		"WEIR_S3_ACCESS_KEY=" + key, "WEIR_S3_SECRET_KEY=" + secret}
}

func TestKillTaskManagerMinIO(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 30 s")
	}
	t.Parallel()
	endpoint, key, secret := miniotest.Start(t)
	killTest{
		storage: "s3://" + miniotest.Bucket + "/kill-test-" + strconv.FormatInt(time.Now().UnixNano(), 36),
		env:     s3Env(endpoint, key, secret),
		mode:    "EXACTLY_ONCE", exactlyOnce: true,
	}.run(t)
}

// The kill test on a cluster with mutual TLS between its processes and
// bearer tokens for the client; no S3 credential shows in any log or API
// answer.
func TestKillTaskManagerSecure(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 30 s")
	}
	t.Parallel()
	endpoint, key, secret := miniotest.Start(t)
	k := writeCerts(t)
	killTest{
		storage: "s3://" + miniotest.Bucket + "/kill-test-secure-" + strconv.FormatInt(time.Now().UnixNano(), 36),
		env:     s3Env(endpoint, key, secret),
		mode:    "EXACTLY_ONCE", exactlyOnce: true,
		secure:  &k,
		secrets: []string{key, secret, k.admin, k.viewer},
	}.run(t)
}

func TestKillTaskManagerFile(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 30 s")
	}
	t.Parallel()
	killTest{storage: "file://" + t.TempDir(), mode: "EXACTLY_ONCE", exactlyOnce: true}.run(t)
}

func TestKillTaskManagerAtLeastOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 30 s")
	}
	t.Parallel()
	killTest{storage: "file://" + t.TempDir(), mode: "AT_LEAST_ONCE"}.run(t)
}

func TestKillTaskManagerPebble(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 30 s")
	}
	t.Parallel()
	killTest{storage: "file://" + t.TempDir(), mode: "EXACTLY_ONCE", exactlyOnce: true,
		job: []string{"-D", "state.backend=pebble"}}.run(t)
}

// The kill test with incremental checkpoints: exact results, and storage
// holds only what the two retained checkpoints reference.
func TestKillTaskManagerPebbleIncremental(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 30 s")
	}
	t.Parallel()
	killTest{storage: "file://" + t.TempDir(), mode: "EXACTLY_ONCE", exactlyOnce: true,
		job: incrementalPebble, incremental: true}.run(t)
}

// The same in MinIO: storage, scanned through S3, holds only what the
// retained checkpoints reference.
func TestKillTaskManagerMinIOIncremental(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 30 s")
	}
	t.Parallel()
	endpoint, key, secret := miniotest.Start(t)
	killTest{
		storage: "s3://" + miniotest.Bucket + "/kill-test-incremental-" + strconv.FormatInt(time.Now().UnixNano(), 36),
		env:     s3Env(endpoint, key, secret),
		mode:    "EXACTLY_ONCE", exactlyOnce: true, job: incrementalPebble, incremental: true,
		storeOpts: objstore.Options{Endpoint: endpoint, AccessKey: key, SecretKey: secret, PathStyleAccess: true},
	}.run(t)
}

// Incremental checkpoints with local recovery: every subtask restores from
// its local copy, hard-linking the SSTs it kept.
func TestKillTaskManagerPebbleIncrementalLocalRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 30 s")
	}
	t.Parallel()
	killTest{storage: "file://" + t.TempDir(), mode: "EXACTLY_ONCE", exactlyOnce: true,
		job: incrementalPebble, incremental: true, localRecovery: true}.run(t)
}

// The kill test with incremental checkpoints on the heap: each subtask
// restores its chain in place (the full snapshot and its deltas) and its
// next checkpoint is a delta of it.
func TestKillTaskManagerHeapIncremental(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 30 s")
	}
	t.Parallel()
	killTest{storage: "file://" + t.TempDir(), mode: "EXACTLY_ONCE", exactlyOnce: true,
		job: incrementalHeap, incremental: true}.run(t)
}

// Incremental heap checkpoints with local recovery: every subtask
// restores its chain from its local copy.
func TestKillTaskManagerHeapIncrementalLocalRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 30 s")
	}
	t.Parallel()
	killTest{storage: "file://" + t.TempDir(), mode: "EXACTLY_ONCE", exactlyOnce: true,
		job: incrementalHeap, incremental: true, localRecovery: true}.run(t)
}

func TestKillTaskManagerPebbleLocalRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 30 s")
	}
	t.Parallel()
	killTest{storage: "file://" + t.TempDir(), mode: "EXACTLY_ONCE", exactlyOnce: true,
		job: []string{"-D", "state.backend=pebble"}, localRecovery: true}.run(t)
}
