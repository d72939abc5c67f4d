package config

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseYAML(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		want map[string]string
		err  string
	}{
		{name: "flat", yaml: "state.backend: heap\nheartbeat.interval: 2s\n",
			want: map[string]string{"state.backend": "heap", "heartbeat.interval": "2s"}},
		{name: "nested equals flat", yaml: "state:\n  backend: heap\nheartbeat: {interval: 2s}\n",
			want: map[string]string{"state.backend": "heap", "heartbeat.interval": "2s"}},
		{name: "mixed depth", yaml: "state:\n  backend: pebble\n  backend.incremental: true\n  checkpoints: {dir: 'file:///cp', num-retained: 3}\n",
			want: map[string]string{"state.backend": "pebble", "state.backend.incremental": "true", "state.checkpoints.dir": "file:///cp", "state.checkpoints.num-retained": "3"}},
		{name: "numbers and booleans as text", yaml: "taskmanager.numberOfTaskSlots: 4\nx: -2\ny: 1.5\nz: false\n",
			want: map[string]string{"taskmanager.numberOfTaskSlots": "4", "x": "-2", "y": "1.5", "z": "false"}},
		{name: "quoted empty", yaml: "state.checkpoints.dir: \"\"\n", want: map[string]string{"state.checkpoints.dir": ""}},
		{name: "empty file", yaml: "", want: map[string]string{}},
		{name: "comments only", yaml: "# nothing set\n", want: map[string]string{}},
		{name: "json", yaml: `{"state": {"backend": "heap"}, "parallelism.default": 2}`,
			want: map[string]string{"state.backend": "heap", "parallelism.default": "2"}},
		{name: "set twice", yaml: "state.backend: heap\nstate:\n  backend: pebble\n",
			err: "state.backend: is set twice (nested and with dots)"},
		{name: "duplicate key", yaml: "state.backend: heap\nstate.backend: pebble\n",
			err: `[2:1] mapping key "state.backend" already defined at [1:1]`},
		{name: "null", yaml: "state.checkpoints.dir:\n",
			err: `state.checkpoints.dir: has no value (write "" for an empty one)`},
		{name: "list", yaml: "state:\n  backend: [heap, pebble]\n",
			err: "state.backend: want a single value, not a list"},
		{name: "not a map", yaml: "- state.backend\n",
			err: "want a map of keys, not a list"},
		{name: "syntax", yaml: "state: [\n",
			err: "[1:8] sequence end token ']' not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseYAML([]byte(tc.yaml))
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("ParseYAML error = %v; want %q", err, tc.err)
				}
				return
			}
			if err != nil || !maps.Equal(got, tc.want) {
				t.Fatalf("ParseYAML = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestParseDynamic(t *testing.T) {
	got, err := ParseDynamic([]string{"state.backend=pebble", " heartbeat.timeout =30 s", "a=b=c", "state.backend=heap", "empty="})
	want := map[string]string{"state.backend": "heap", "heartbeat.timeout": "30 s", "a": "b=c", "empty": ""}
	if err != nil || !maps.Equal(got, want) {
		t.Fatalf("ParseDynamic = %v, %v; want %v", got, err, want)
	}
	for _, bad := range []string{"state.backend", "=heap", ""} {
		if _, err := ParseDynamic([]string{bad}); err == nil || !strings.Contains(err.Error(), "want key=value") {
			t.Errorf("ParseDynamic(%q) error = %v", bad, err)
		}
	}
}

func TestEnvName(t *testing.T) {
	for key, want := range map[string]string{
		"state.backend":                 "WEIR_STATE_BACKEND",
		"rpc.max-message-size":          "WEIR_RPC_MAX_MESSAGE_SIZE",
		"taskmanager.numberOfTaskSlots": "WEIR_TASKMANAGER_NUMBEROFTASKSLOTS",
		"restart-strategy.type":         "WEIR_RESTART_STRATEGY_TYPE",
		"s3.secret-key":                 "WEIR_S3_SECRET_KEY",
	} {
		if got := EnvName(key); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", key, got, want)
		}
	}
}

// TestEnvNamesUnique guards the reversibility of the environment rule: no
// two known keys may share a variable, and none may be a variable that is
// not configuration.
func TestEnvNamesUnique(t *testing.T) {
	seen := map[string]string{}
	for _, o := range Known() {
		n := EnvName(o.Key)
		if other, dup := seen[n]; dup {
			t.Errorf("%s and %s both map to %s", other, o.Key, n)
		}
		if nonConfigEnv[n] {
			t.Errorf("%s maps to %s, which is reserved", o.Key, n)
		}
		seen[n] = o.Key
		c, err := Load(Sources{Environ: []string{n + "=" + o.Default}})
		if err != nil {
			t.Errorf("%s: %v", n, err)
			continue
		}
		if v, _ := c.Get(o.Key); v != o.Default {
			t.Errorf("%s=%q set %s to %q", n, o.Default, o.Key, v)
		}
	}
}

func TestLoadEnv(t *testing.T) {
	c, err := Load(Sources{Environ: []string{
		"PATH=/bin",
		"WEIR_STATE_BACKEND=pebble",
		"WEIR_TASKMANAGER_NUMBEROFTASKSLOTS=8",
		"WEIR_RPC_MAX_MESSAGE_SIZE=128m",
		"WEIR_JOBMANAGER=10.0.0.1:6123", // the CLI's, not a key
		"WEIR_TOKEN=0123456789abcdef",   // the CLI's bearer token
		"WEIR_TLS_CA=/certs/ca.pem",     // the CLI's CA
		"WEIR_TLS_CERT=/certs/client.pem",
		"WEIR_TLS_KEY=/certs/client-key.pem",
		"weir_state_backend=ignored", // only upper-case WEIR_ variables
	}})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Get(StateBackend); v != "pebble" {
		t.Errorf("state.backend = %q", v)
	}
	if n, _ := c.Int(TaskManagerSlots); n != 8 {
		t.Errorf("slots = %d", n)
	}
	if n, _ := c.Bytes(RPCMaxMessageSize); n != 128<<20 {
		t.Errorf("rpc.max-message-size = %d", n)
	}

	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"WEIR_STATE_BAKEND=heap"},
			"environment variable WEIR_STATE_BAKEND: unknown configuration key (did you mean WEIR_STATE_BACKEND, for state.backend?)"},
		{[]string{"WEIR_RPC_MAX__MESSAGE__SIZE=1m"},
			"environment variable WEIR_RPC_MAX__MESSAGE__SIZE: unknown configuration key (did you mean WEIR_RPC_MAX_MESSAGE_SIZE, for rpc.max-message-size?)"},
		{[]string{"WEIR_COLOR=1"},
			"environment variable WEIR_COLOR: unknown configuration key (WEIR_ variables set configuration keys; see config.EnvName)"},
		{[]string{"WEIR_HEARTBEAT_TIMEOUT=soon"},
			`environment variable WEIR_HEARTBEAT_TIMEOUT: heartbeat.timeout: invalid value "soon": want a duration such as "10 s", "500 ms", "1 min" or plain milliseconds`},
	} {
		_, err := Load(Sources{Environ: tc.env})
		if err == nil || err.Error() != tc.want {
			t.Errorf("Load(%v) error = %v\nwant %q", tc.env, err, tc.want)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	file := func(body string) string {
		p := filepath.Join(dir, "weir.yaml")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name string
		src  func() Sources
		want string
		is   error
	}{
		{"file unknown key", func() Sources { return Sources{File: file("state:\n  bakend: heap\n")} },
			filepath.Join(dir, "weir.yaml") + ": state.bakend: unknown configuration key (did you mean state.backend?)", ErrUnknownKey},
		{"file bad value", func() Sources { return Sources{File: file("heartbeat.timeout: soon\n")} },
			filepath.Join(dir, "weir.yaml") + `: heartbeat.timeout: invalid value "soon": want a duration such as "10 s", "500 ms", "1 min" or plain milliseconds`, ErrInvalidValue},
		{"file missing", func() Sources { return Sources{File: filepath.Join(dir, "nope.yaml")} },
			"reading configuration: open " + filepath.Join(dir, "nope.yaml") + ": no such file or directory", os.ErrNotExist},
		{"dynamic unknown key", func() Sources { return Sources{Dynamic: []string{"state.bakend=heap"}} },
			"-D state.bakend: unknown configuration key (did you mean state.backend?)", ErrUnknownKey},
		{"dynamic malformed", func() Sources { return Sources{Dynamic: []string{"state.backend"}} },
			`-D "state.backend": want key=value`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.src())
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Load error = %v\nwant %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("error %v is not %v", err, tc.is)
			}
		})
	}
}

// TestPrecedence sets one key in several layers and checks which wins:
// defaults < file < environment < -D < job.
func TestPrecedence(t *testing.T) {
	const key = CheckpointingInterval
	for _, tc := range []struct {
		name                    string
		file, env, dynamic, job string // "" leaves the layer unset
		want                    string
	}{
		{name: "default", want: "0"},
		{name: "file", file: "1s", want: "1s"},
		{name: "env over file", file: "1s", env: "2s", want: "2s"},
		{name: "dynamic over env", file: "1s", env: "2s", dynamic: "3s", want: "3s"},
		{name: "job over dynamic", file: "1s", env: "2s", dynamic: "3s", job: "4s", want: "4s"},
		{name: "dynamic over file", file: "1s", dynamic: "3s", want: "3s"},
		{name: "job over file", file: "1s", job: "4s", want: "4s"},
		{name: "env alone", env: "2s", want: "2s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var src Sources
			if tc.file != "" {
				src.File = filepath.Join(t.TempDir(), "weir.yaml")
				// Nested form, to show it is the same key as the others.
				body := "execution:\n  checkpointing:\n    interval: " + tc.file + "\n"
				if err := os.WriteFile(src.File, []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tc.env != "" {
				src.Environ = []string{EnvName(key) + "=" + tc.env}
			}
			if tc.dynamic != "" {
				src.Dynamic = []string{key + "=" + tc.dynamic}
			}
			c, err := Load(src)
			if err != nil {
				t.Fatal(err)
			}
			if tc.job != "" {
				if c, err = c.WithJob(map[string]string{key: tc.job}); err != nil {
					t.Fatal(err)
				}
			}
			if got, _ := c.Get(key); got != tc.want {
				t.Fatalf("%s = %q, want %q", key, got, tc.want)
			}
		})
	}
}

func TestNearest(t *testing.T) {
	keys := []string{"state.backend", "state.backend.incremental", "heartbeat.interval", "heartbeat.timeout"}
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"state.bakend", "state.backend", true},
		{"STATE.BACKEND", "state.backend", true},
		{"heartbeat.timout", "heartbeat.timeout", true},
		{"state.backend.incrementl", "state.backend.incremental", true},
		{"foo", "", false},
		{"checkpoint.interval", "", false},
	} {
		got, ok := nearest(tc.in, keys)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("nearest(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// A secret on the command line is readable by every user through the
// process list: -D refuses it, the environment and file take it.
func TestSecretNotFromCommandLine(t *testing.T) {
	_, err := Load(Sources{Dynamic: []string{"s3.secret-key=hunter2hunter2"}})
	if !errors.Is(err, ErrSecretOnCommandLine) || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("-D s3.secret-key: %v, want ErrSecretOnCommandLine without the value", err)
	}
	c, err := Load(Sources{Environ: []string{"WEIR_S3_SECRET_KEY=hunter2hunter2"}})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Get(S3SecretKey); v != "hunter2hunter2" {
		t.Fatalf("from the environment: %q", v)
	}
	if strings.Contains(c.String(), "hunter2") || c.Redacted()[S3SecretKey] != "******" {
		t.Fatalf("the secret shows: %s", c)
	}
}
