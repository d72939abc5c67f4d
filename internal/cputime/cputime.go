// Package cputime measures the CPU time of benchmarks: this process's,
// and the whole machine's, so that a benchmark on a shared machine can
// report throughput per CPU-second and how much other processes took.
package cputime

import "time"

// Meter adds up the CPU time used during the timed regions of a
// benchmark, between Start and Stop: Own by this process (every
// goroutine and the GC), Machine by every process plus the time the
// hypervisor stole. Both are 0 where the platform is not measured.
type Meter struct {
	Own, Machine   time.Duration
	own0, machine0 time.Duration
}

// Start begins a timed region.
func (m *Meter) Start() { m.own0, m.machine0 = processCPU(), machineCPU() }

// Stop ends a timed region and adds its CPU time.
func (m *Meter) Stop() {
	m.Own += processCPU() - m.own0
	m.Machine += machineCPU() - m.machine0
}
