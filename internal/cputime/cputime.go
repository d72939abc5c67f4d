// Package cputime measures the CPU time of benchmarks: this process's,
// and the whole machine's, so that a benchmark on a shared machine can
// report throughput per CPU-second and how much other processes took.
package cputime

import (
	"testing"
	"time"
)

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

// Report adds the throughput of n items (over all of b's iterations) as
// metrics: unit/s of wall time; unit/cpu-s, per second of this process's
// CPU time; and other-cpus, the cores other processes (and the
// hypervisor) took on average while the timer ran. A row whose other-cpus
// is not near 0 shared the machine and its wall-time figures are low; its
// unit/cpu-s is still comparable.
func (m *Meter) Report(b *testing.B, n float64, unit string) {
	b.Helper()
	s := b.Elapsed().Seconds()
	b.ReportMetric(n/s, unit+"/s")
	if m.Own > 0 {
		b.ReportMetric(n/m.Own.Seconds(), unit+"/cpu-s")
	}
	if m.Machine > 0 {
		b.ReportMetric(max(m.Machine-m.Own, 0).Seconds()/s, "other-cpus")
	}
}
