package cputime

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
	"time"
)

// processCPU returns the user plus system CPU time this process has used:
// every goroutine of the benchmark, the cluster and the Go runtime (GC).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// clockTick is USER_HZ, the unit of /proc/stat: 100 on every Linux
// architecture Go supports.
const clockTick = 10 * time.Millisecond

// machineCPU returns the CPU time all processes of the machine have used,
// plus the time the hypervisor stole from it, from the first line of
// /proc/stat: user, nice, system, irq, softirq and steal, not idle or
// iowait. Its resolution is clockTick.
func machineCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := bytes.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 9 || string(f[0]) != "cpu" {
		return 0
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		n, err := strconv.ParseInt(string(f[i]), 10, 64)
		if err != nil {
			return 0
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick
}
