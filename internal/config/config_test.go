package config

import (
	"bytes"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestKnownDefaults pins the documented defaults of the starting keys.
func TestKnownDefaults(t *testing.T) {
	want := map[string]string{
		"heartbeat.interval":               "1s",
		"heartbeat.timeout":                "10s",
		"slot.request.timeout":             "5min",
		"taskmanager.numberOfTaskSlots":    "1",
		"rpc.max-message-size":             "64mb",
		"state.backend":                    "heap",
		"state.backend.pebble.localdir":    "",
		"state.checkpoints.dir":            "",
		"state.savepoints.dir":             "",
		"execution.checkpointing.interval": "0",
		"execution.checkpointing.mode":     "EXACTLY_ONCE",
		"state.checkpoints.num-retained":   "1",
		"state.backend.incremental":        "false",
		"state.backend.local-recovery":     "false",
		"restart-strategy.type":            "default",
		"execution.buffer-timeout":         "100ms",
		"parallelism.default":              "1",
		"pipeline.max-parallelism":         "128",
		"jobmanager.rpc.address":           "127.0.0.1:6123",
		"rest.address":                     "127.0.0.1:8081",
	}
	c := Default()
	for k, v := range want {
		got, err := c.Get(k)
		if err != nil || got != v {
			t.Errorf("Default().Get(%q) = %q, %v; want %q", k, got, err, v)
		}
	}
}

// TestKnownRegistry checks the registry itself: sorted, described, and
// every default valid for its own type.
func TestKnownRegistry(t *testing.T) {
	known := Known()
	if !slices.IsSortedFunc(known, func(a, b Option) int { return strings.Compare(a.Key, b.Key) }) {
		t.Error("options are not sorted by key")
	}
	for _, o := range known {
		if o.Description == "" {
			t.Errorf("%s has no description", o.Key)
		}
		if _, err := parseValue(&o, o.Default); err != nil {
			t.Errorf("%s: default %q is invalid: %v", o.Key, o.Default, err)
		}
		if (o.Type == TypeEnum) != (len(o.Values) > 0) {
			t.Errorf("%s: Values set on a %s option, or missing on an enumeration", o.Key, o.Type)
		}
		if IsSecret(o.Key) && o.Job {
			t.Errorf("%s: a secret cannot be set per job (job settings travel in the job graph)", o.Key)
		}
	}
	if o, ok := Lookup(StateBackend); !ok || o.Type != TypeEnum || !slices.Equal(o.Values, []string{"heap", "pebble"}) || !o.Job {
		t.Errorf("Lookup(%q) = %+v, %v", StateBackend, o, ok)
	}
	if _, ok := Lookup("state.bakend"); ok {
		t.Error("Lookup of an unknown key succeeded")
	}
	// Known returns copies.
	known[0].Default = "changed"
	if Known()[0].Default == "changed" {
		t.Error("Known exposes the registry")
	}
}

func TestGetters(t *testing.T) {
	c, err := Default().With(map[string]string{
		HeartbeatInterval:      "500 ms",
		TaskManagerSlots:       "4",
		IncrementalCheckpoints: "TRUE",
		RPCMaxMessageSize:      "128m",
		StateBackend:           "Pebble",
		CheckpointsDir:         "file:///tmp/cp",
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		get  func() (any, error)
		want any
	}{
		{"Duration", func() (any, error) { return c.Duration(HeartbeatInterval) }, 500 * time.Millisecond},
		{"Duration default", func() (any, error) { return c.Duration(SlotRequestTimeout) }, 5 * time.Minute},
		{"Duration zero", func() (any, error) { return c.Duration(CheckpointingInterval) }, time.Duration(0)},
		{"Int", func() (any, error) { return c.Int(TaskManagerSlots) }, 4},
		{"Int default", func() (any, error) { return c.Int(MaxParallelism) }, 128},
		{"Bool", func() (any, error) { return c.Bool(IncrementalCheckpoints) }, true},
		{"Bool default", func() (any, error) { return c.Bool(LocalRecovery) }, false},
		{"Bytes", func() (any, error) { return c.Bytes(RPCMaxMessageSize) }, int64(128 << 20)},
		{"Get enum canonical", func() (any, error) { return c.Get(StateBackend) }, "pebble"},
		{"Get string", func() (any, error) { return c.Get(CheckpointsDir) }, "file:///tmp/cp"},
		{"Get duration as text", func() (any, error) { return c.Get(HeartbeatInterval) }, "500 ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.get()
			if err != nil || got != tc.want {
				t.Fatalf("got %v (%T), %v; want %v (%T)", got, got, err, tc.want, tc.want)
			}
		})
	}
}

func TestGetterErrors(t *testing.T) {
	c := Default()
	for _, tc := range []struct {
		name string
		get  func() error
		want string
		is   error
	}{
		{"unknown key suggests", func() error { _, err := c.Duration("heartbeat.intervall"); return err },
			"heartbeat.intervall: unknown configuration key (did you mean heartbeat.interval?)", ErrUnknownKey},
		{"unknown key, case", func() error { _, err := c.Int("taskmanager.numberoftaskslots"); return err },
			"taskmanager.numberoftaskslots: unknown configuration key (did you mean taskmanager.numberOfTaskSlots?)", ErrUnknownKey},
		{"unknown key, nothing near", func() error { _, err := c.Get("foo"); return err },
			"foo: unknown configuration key", ErrUnknownKey},
		{"wrong type", func() error { _, err := c.Duration(StateBackend); return err },
			"state.backend: has type enumeration, not duration", nil},
		{"wrong type bytes", func() error { _, err := c.Int(RPCMaxMessageSize); return err },
			"rpc.max-message-size: has type size, not integer", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.get()
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error = %v; want %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("error %v is not %v", err, tc.is)
			}
		})
	}
}

func TestWithRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    map[string]string
		want string
		is   error
	}{
		{"unknown key", map[string]string{"state.bakend": "heap"},
			"state.bakend: unknown configuration key (did you mean state.backend?)", ErrUnknownKey},
		{"bad duration", map[string]string{HeartbeatTimeout: "soon"},
			`heartbeat.timeout: invalid value "soon": want a duration such as "10 s", "500 ms", "1 min" or plain milliseconds`, ErrInvalidValue},
		{"bad int", map[string]string{TaskManagerSlots: "four"},
			`taskmanager.numberOfTaskSlots: invalid value "four": want an integer`, ErrInvalidValue},
		{"int below min", map[string]string{TaskManagerSlots: "0"},
			`taskmanager.numberOfTaskSlots: invalid value "0": want an integer of at least 1`, ErrInvalidValue},
		{"int above max", map[string]string{MaxParallelism: "40000"},
			`pipeline.max-parallelism: invalid value "40000": want an integer in 1..32768`, ErrInvalidValue},
		{"bad bool", map[string]string{LocalRecovery: "yes"},
			`state.backend.local-recovery: invalid value "yes": want true or false`, ErrInvalidValue},
		{"bad bytes", map[string]string{RPCMaxMessageSize: "lots"},
			`rpc.max-message-size: invalid value "lots": want a size such as "64 mb", "128m", "1g" or plain bytes`, ErrInvalidValue},
		{"bad enum", map[string]string{StateBackend: "rocksdb"},
			`state.backend: invalid value "rocksdb": want one of heap, pebble`, ErrInvalidValue},
		{"first error in key order", map[string]string{"zzz": "1", HeartbeatTimeout: "soon"},
			`heartbeat.timeout: invalid value "soon": want a duration such as "10 s", "500 ms", "1 min" or plain milliseconds`, ErrInvalidValue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := Default()
			_, err := base.With(tc.m)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("With(%v) error = %v; want %q", tc.m, err, tc.want)
			}
			if !errors.Is(err, tc.is) {
				t.Fatalf("error %v is not %v", err, tc.is)
			}
			if base.String() != Default().String() {
				t.Fatal("a failed With changed its receiver")
			}
		})
	}
}

func TestWithJob(t *testing.T) {
	cluster, err := Default().With(map[string]string{TaskManagerSlots: "4", CheckpointingInterval: "10s"})
	if err != nil {
		t.Fatal(err)
	}
	job, err := cluster.WithJob(map[string]string{CheckpointingInterval: "1s", StateBackend: "pebble"})
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := job.Duration(CheckpointingInterval); d != time.Second {
		t.Errorf("job interval = %v, want 1s", d)
	}
	if n, _ := job.Int(TaskManagerSlots); n != 4 {
		t.Errorf("job slots = %d, want the cluster's 4", n)
	}
	if d, _ := cluster.Duration(CheckpointingInterval); d != 10*time.Second {
		t.Errorf("WithJob changed the cluster config: interval %v", d)
	}

	for _, tc := range []struct {
		m    map[string]string
		want string
		is   error
	}{
		{map[string]string{TaskManagerSlots: "8"},
			"taskmanager.numberOfTaskSlots is a cluster setting and cannot be set per job", ErrNotPerJob},
		{map[string]string{S3SecretKey: "hunter2"},
			"s3.secret-key is a cluster setting and cannot be set per job", ErrNotPerJob},
		{map[string]string{"execution.checkpointing.intreval": "1s"},
			"execution.checkpointing.intreval: unknown configuration key (did you mean execution.checkpointing.interval?)", ErrUnknownKey},
	} {
		_, err := cluster.WithJob(tc.m)
		if err == nil || err.Error() != tc.want || !errors.Is(err, tc.is) {
			t.Errorf("WithJob(%v) error = %v; want %q", tc.m, err, tc.want)
		}
	}
}

func TestSecretsRedacted(t *testing.T) {
	for _, k := range []string{"s3.secret-key", "s3.access-key", "db.password", "x.SECRET"} {
		if !IsSecret(k) {
			t.Errorf("IsSecret(%q) = false", k)
		}
	}
	for _, k := range []string{"state.backend", "s3.endpoint", "heartbeat.timeout"} {
		if IsSecret(k) {
			t.Errorf("IsSecret(%q) = true", k)
		}
	}

	c, err := Default().With(map[string]string{S3SecretKey: "hunter2", S3AccessKey: "AKIAEXAMPLE", S3Endpoint: "http://minio:9000"})
	if err != nil {
		t.Fatal(err)
	}
	s := c.String()
	if strings.Contains(s, "hunter2") || strings.Contains(s, "AKIAEXAMPLE") {
		t.Errorf("String() shows a secret:\n%s", s)
	}
	for _, line := range []string{`s3.secret-key: "******"`, `s3.access-key: "******"`, `s3.endpoint: "http://minio:9000"`, "state.backend: heap", `state.checkpoints.dir: ""`} {
		if !strings.Contains(s, line+"\n") {
			t.Errorf("String() lacks %q:\n%s", line, s)
		}
	}
	if r := c.Redacted(); r[S3SecretKey] != "******" || r[S3Endpoint] != "http://minio:9000" {
		t.Errorf("Redacted() = %v", r)
	}
	if m := c.Map(); m[S3SecretKey] != "hunter2" {
		t.Errorf("Map()[%s] = %q, want the secret in clear", S3SecretKey, m[S3SecretKey])
	}
	if v, _ := c.Get(S3SecretKey); v != "hunter2" {
		t.Errorf("Get(%s) = %q", S3SecretKey, v)
	}

	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "config", c)
	if strings.Contains(buf.String(), "hunter2") || !strings.Contains(buf.String(), "config.s3.secret-key=******") {
		t.Errorf("logged config: %s", buf.String())
	}
}

// TestSecretsRedactedInErrors checks the error paths that quote values. The
// shipped secrets are strings, which never fail to parse, so the value error
// is built directly.
func TestSecretsRedactedInErrors(t *testing.T) {
	err := valueError("kafka.sasl.password", "hunter2", errors.New("want an integer"))
	if strings.Contains(err.Error(), "hunter2") || err.Error() != `kafka.sasl.password: invalid value "******": want an integer` {
		t.Errorf("error = %v", err)
	}
	_, err = ParseDynamic([]string{"s3.secret-key:hunter2"})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("ParseDynamic error = %v", err)
	}
}
