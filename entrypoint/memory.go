package entrypoint

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"

	"github.com/weirstream/weir/internal/config"
)

// The soft memory limit of a taskmanager's Go runtime.
//
// Left alone, Go's garbage collector lets the heap grow to twice the live
// data before it collects (GOGC=100), whatever memory the process has. A
// taskmanager whose live heap is large — the heap backend's state, and
// during a full snapshot the maps it keeps for the encoder and the
// snapshot's buffer — would then outgrow its container and be killed,
// restart from the latest checkpoint and be killed again. A soft limit
// makes the collector work harder near it instead (Go bounds that work at
// about half the CPU, so a heap that truly needs more grows past the limit
// rather than stalling the process).
//
// The limit is memoryLimitFraction of taskmanager.memory.process.size
// (Flink's key: the whole process), or of the container's memory limit if
// that key is unset. The rest is headroom for what the Go runtime does not
// count as its own: memory it has freed but the kernel has not yet taken
// back, and the process's non-Go mappings. A GOMEMLIMIT environment
// variable is Go's own way to set the limit; it is respected, and setting
// both it and taskmanager.memory.process.size is an error.

// memoryLimitFraction is the share of the process's memory given to the Go
// runtime's soft limit.
const memoryLimitFraction = 0.9

// minProcessSize is the smallest taskmanager.memory.process.size accepted:
// below it a taskmanager's own runtime, gRPC and buffers leave no room
// for state.
const minProcessSize = 128 << 20

// memoryLimit is the soft memory limit to set and where it comes from.
// Limit 0 leaves the runtime's limit as it is.
type memoryLimit struct {
	Limit  int64
	Source string
}

// String is the limit in MiB, or "none".
func (l memoryLimit) String() string {
	if l.Limit <= 0 || l.Limit == math.MaxInt64 {
		return "none"
	}
	return fmt.Sprintf("%dMiB", l.Limit>>20)
}

// chooseMemoryLimit returns the taskmanager's soft memory limit for a
// configured process size (0 if unset), the GOMEMLIMIT environment
// variable ("" if unset) and the container's memory limit (0 if none).
func chooseMemoryLimit(processSize int64, gomemlimit string, container int64) (memoryLimit, error) {
	switch {
	case processSize > 0 && gomemlimit != "":
		return memoryLimit{}, fmt.Errorf("%s and GOMEMLIMIT=%s are both set: set one (the process size sets the Go runtime's memory limit to %.0f%% of it)",
			config.TaskManagerProcessSize, gomemlimit, memoryLimitFraction*100)
	case gomemlimit != "":
		return memoryLimit{Source: "GOMEMLIMIT"}, nil
	case processSize > 0:
		if processSize < minProcessSize {
			return memoryLimit{}, fmt.Errorf("%s %d bytes is below the %d MiB a taskmanager needs",
				config.TaskManagerProcessSize, processSize, minProcessSize>>20)
		}
		return memoryLimit{Limit: int64(float64(processSize) * memoryLimitFraction), Source: config.TaskManagerProcessSize}, nil
	case container > 0:
		return memoryLimit{Limit: int64(float64(container) * memoryLimitFraction), Source: "the container's memory limit"}, nil
	}
	return memoryLimit{Source: "none"}, nil
}

// setMemoryLimit applies the taskmanager's soft memory limit from cfg and
// the environment, and returns it for the log.
func setMemoryLimit(cfg *config.Config) (memoryLimit, error) {
	size, err := cfg.Bytes(config.TaskManagerProcessSize)
	if err != nil {
		return memoryLimit{}, err
	}
	// The container's limit matters only if nothing else sets one; a
	// cgroup that cannot be read is a process without a limit.
	var container int64
	if size == 0 && os.Getenv("GOMEMLIMIT") == "" {
		container, _ = cgroupMemoryLimit(os.DirFS("/"))
	}
	l, err := chooseMemoryLimit(size, os.Getenv("GOMEMLIMIT"), container)
	if err != nil {
		return memoryLimit{}, err
	}
	if l.Limit > 0 {
		debug.SetMemoryLimit(l.Limit)
	}
	l.Limit = debug.SetMemoryLimit(-1)
	return l, nil
}

// cgroupMemoryLimit returns the memory limit of the cgroup the process is
// in, 0 if it has none: memory.max (cgroup v2) or memory.limit_in_bytes
// (v1). root is the file system's root. Inside a container the cgroup's
// path in /proc/self/cgroup may not exist under /sys/fs/cgroup, whose root
// is then the container's own cgroup: that is looked at too.
func cgroupMemoryLimit(root fs.FS) (int64, error) {
	b, err := fs.ReadFile(root, "proc/self/cgroup")
	if err != nil {
		return 0, err
	}
	var v2, v1 string
	v1Found := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		// hierarchy-ID:controller-list:cgroup-path
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			v2 = parts[2]
		case slices.Contains(strings.Split(parts[1], ","), "memory"):
			v1, v1Found = parts[2], true
		}
	}
	if v1Found {
		return readLimit(root, "sys/fs/cgroup/memory", v1, "memory.limit_in_bytes")
	}
	return readLimit(root, "sys/fs/cgroup", v2, "memory.max")
}

// readLimit reads file in the cgroup's directory under mount, or at the
// mount's root if the cgroup's directory has none.
func readLimit(root fs.FS, mount, cgroup, file string) (int64, error) {
	b, err := fs.ReadFile(root, path.Join(mount, cgroup, file))
	if errors.Is(err, fs.ErrNotExist) {
		b, err = fs.ReadFile(root, path.Join(mount, file))
	}
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("cgroup %s: %q is not a number of bytes", file, s)
	}
	// cgroup v1 reports no limit as the largest page-aligned int64.
	if n <= 0 || n >= math.MaxInt64&^(1<<12-1) {
		return 0, nil
	}
	return n, nil
}
