package kafka

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/stream"
)

// The benchmarks move benchRecords records of benchValueBytes bytes per
// iteration through kfake, in-process; run them with -benchtime=1x:
//
//	go test -run '^$' -bench . -benchtime=1x ./connector/kafka/
const (
	benchRecords    = 1_000_000
	benchValueBytes = 100
	benchPartitions = 4
)

// benchValue returns a 100-byte value ending in i.
func benchValue(i int) string {
	s := fmt.Sprintf("%d", i)
	return strings.Repeat("v", benchValueBytes-len(s)) + s
}

func reportThroughput(b *testing.B, records int, d time.Duration) {
	b.ReportMetric(float64(records)/d.Seconds(), "records/s")
	b.ReportMetric(float64(records*benchValueBytes)/d.Seconds()/(1<<20), "MiB/s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkSource reads benchRecords records from benchPartitions
// partitions with one reader.
func BenchmarkSource(b *testing.B) {
	for _, iso := range []string{ReadCommitted, ReadUncommitted} {
		b.Run(iso, func(b *testing.B) {
			tc := newTestCluster(b, benchPartitions, "t")
			w := newWriter(b, Sink{Brokers: tc.brokers, Topic: "t"}, 0, 1, "")
			for i := range benchRecords {
				if err := w.Write(benchValue(i)); err != nil {
					b.Fatal(err)
				}
			}
			if err := w.Finish(); err != nil {
				b.Fatal(err)
			}
			src := Source{Brokers: tc.brokers, Topic: "t", StopAtLatest: true, Isolation: iso}
			var total time.Duration
			for b.Loop() {
				start := time.Now()
				r := newReader(b, src, 0, 1, nil)
				var out counter
				pollCount(b, r, &out)
				total += time.Since(start)
				r.Close()
				if out.n != benchRecords {
					b.Fatalf("read %d records, want %d", out.n, benchRecords)
				}
			}
			reportThroughput(b, b.N*benchRecords, total)
		})
	}
}

// BenchmarkSink writes benchRecords records to benchPartitions partitions
// with one writer, until every record is acknowledged: at least once, and
// exactly once with a checkpoint every 100,000 records.
func BenchmarkSink(b *testing.B) {
	for _, semantic := range []string{AtLeastOnce, ExactlyOnce} {
		b.Run(semantic, func(b *testing.B) {
			tc := newTestCluster(b, benchPartitions, "t")
			vs := make([]string, benchRecords)
			for i := range vs {
				vs[i] = benchValue(i)
			}
			var total, pause time.Duration
			id := int64(0)
			for b.Loop() {
				w := newWriter(b, Sink{Brokers: tc.brokers, Topic: "t", Semantic: semantic}, 0, 1, "EXACTLY_ONCE")
				// As in a task: the checkpointer syncs a checkpoint while
				// the task writes on, and the task commits it when it
				// completes, here at the next barrier.
				var synced chan error
				complete := func() {
					if synced == nil {
						return
					}
					if err := <-synced; err != nil {
						b.Fatal(err)
					}
					if err := w.NotifyCheckpointComplete(id); err != nil {
						b.Fatal(err)
					}
					synced = nil
				}
				start := time.Now()
				for i, v := range vs {
					if err := w.Write(v); err != nil {
						b.Fatal(err)
					}
					if semantic == ExactlyOnce && (i+1)%100_000 == 0 {
						complete()
						id++
						barrier := time.Now()
						if _, err := w.SnapshotState(id); err != nil {
							b.Fatal(err)
						}
						pause = max(pause, time.Since(barrier))
						synced = make(chan error, 1)
						go func(id int64) { synced <- w.SyncSnapshot(id) }(id)
					}
				}
				complete()
				if err := w.Finish(); err != nil {
					b.Fatal(err)
				}
				total += time.Since(start)
				w.Close()
			}
			reportThroughput(b, b.N*benchRecords, total)
			if semantic == ExactlyOnce {
				b.ReportMetric(float64(pause.Microseconds())/1000, "barrier-max-ms")
			}
		})
	}
}

type counter struct{ n int }

func (c *counter) Collect(string) { c.n++ }

// pollCount reads a bounded reader to its end into c.
func pollCount(b *testing.B, r *reader, c *counter) {
	deadline := time.After(10 * time.Minute)
	for {
		st, err := r.PollNext(c)
		if err != nil {
			b.Fatal(err)
		}
		switch st {
		case stream.PollEnd:
			return
		case stream.PollIdle:
			select {
			case <-r.Available():
			case <-deadline:
				b.Fatal("reader idle")
			}
		}
	}
}
