package entrypoint

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestChooseMemoryLimit(t *testing.T) {
	const gib = 1 << 30
	for _, tc := range []struct {
		name                string
		size                int64
		gomemlimit          string
		container           int64
		wantLimit           int64
		wantSource, wantErr string
	}{
		{name: "nothing set", wantSource: "none"},
		{name: "process size", size: 10 * gib, wantLimit: 9 * gib, wantSource: "taskmanager.memory.process.size"},
		{name: "process size over the container's", size: 10 * gib, container: 4 * gib, wantLimit: 9 * gib, wantSource: "taskmanager.memory.process.size"},
		{name: "container", container: 4 * gib, wantLimit: 4 * gib * 9 / 10, wantSource: "the container's memory limit"},
		{name: "GOMEMLIMIT", gomemlimit: "3GiB", container: 4 * gib, wantSource: "GOMEMLIMIT"},
		{name: "GOMEMLIMIT and process size", size: gib, gomemlimit: "3GiB", wantErr: "taskmanager.memory.process.size and GOMEMLIMIT=3GiB are both set"},
		{name: "process size too small", size: 64 << 20, wantErr: "taskmanager.memory.process.size 67108864 bytes is below the 128 MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := chooseMemoryLimit(tc.size, tc.gomemlimit, tc.container)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Limit != tc.wantLimit || got.Source != tc.wantSource {
				t.Errorf("got limit %d from %q, want %d from %q", got.Limit, got.Source, tc.wantLimit, tc.wantSource)
			}
		})
	}
}

func TestCgroupMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		name    string
		files   map[string]string
		want    int64
		wantErr bool
	}{
		{
			name: "v2, the cgroup's directory",
			files: map[string]string{
				"proc/self/cgroup": "0::/system.slice/weir.service\n",
				"sys/fs/cgroup/system.slice/weir.service/memory.max": "2147483648\n",
				"sys/fs/cgroup/memory.max":                           "max\n",
			},
			want: 2 << 30,
		},
		{
			name: "v2 in a container: the mount's root is the cgroup",
			files: map[string]string{
				"proc/self/cgroup":         "0::/docker/0123abcd\n",
				"sys/fs/cgroup/memory.max": "1073741824\n",
			},
			want: 1 << 30,
		},
		{
			name: "v2 without a limit",
			files: map[string]string{
				"proc/self/cgroup":         "0::/\n",
				"sys/fs/cgroup/memory.max": "max\n",
			},
		},
		{
			name: "v1",
			files: map[string]string{
				"proc/self/cgroup": "12:cpu,cpuacct:/\n4:memory:/docker/0123abcd\n1:name=systemd:/\n",
				"sys/fs/cgroup/memory/docker/0123abcd/memory.limit_in_bytes": "536870912\n",
			},
			want: 512 << 20,
		},
		{
			name: "v1 without a limit",
			files: map[string]string{
				"proc/self/cgroup":                           "4:memory:/\n",
				"sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n",
			},
		},
		{
			name:    "no cgroup file",
			files:   map[string]string{"proc/self/cgroup": "0::/\n"},
			wantErr: true,
		},
		{
			name: "not a number",
			files: map[string]string{
				"proc/self/cgroup":         "0::/\n",
				"sys/fs/cgroup/memory.max": "lots\n",
			},
			wantErr: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := fstest.MapFS{}
			for name, data := range tc.files {
				root[name] = &fstest.MapFile{Data: []byte(data)}
			}
			got, err := cgroupMemoryLimit(root)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("limit %d, want %d", got, tc.want)
			}
		})
	}
}
