//go:build !linux

package cputime

import "time"

// processCPU and machineCPU are not measured on this platform; the
// benchmarks then report no per-CPU figures.
func processCPU() time.Duration { return 0 }
func machineCPU() time.Duration { return 0 }
