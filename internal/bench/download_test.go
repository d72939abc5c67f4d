package bench

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/weirstream/weir/internal/checkpoint/objstore"
	"github.com/weirstream/weir/internal/checkpoint/objstore/miniotest"
)

// BenchmarkMinIODownload measures the download part of a restore from
// MinIO: one state object of WEIRBENCH_DOWNLOAD_MB MiB (default 256),
// written through the s3 store that checkpoint storage uses to a real
// MinIO server on loopback (built by scripts/minio.sh), then read back
// whole, as a restoring subtask reads its state object. It reports s/GB
// and MB/s of the reads. The server shares the two cores with the
// benchmark, so the figure is a loopback ceiling, not a network's.
func BenchmarkMinIODownload(b *testing.B) {
	mb := envInt(b, "WEIRBENCH_DOWNLOAD_MB", 256)
	endpoint, accessKey, secretKey := miniotest.Start(b)
	prefix := make([]byte, 4)
	rand.Read(prefix)
	st, err := objstore.Open(b.Context(), "s3://"+miniotest.Bucket+"/bench-download-"+hex.EncodeToString(prefix), objstore.Options{
		Endpoint: endpoint, Region: "us-east-1", AccessKey: accessKey, SecretKey: secretKey, PathStyleAccess: true,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	body := make([]byte, mb<<20)
	rand.Read(body) // incompressible, like encoded state
	const key = "state"
	if err := st.Put(b.Context(), key, body); err != nil {
		b.Fatal(err)
	}
	defer st.Delete(b.Context(), key)
	var elapsed time.Duration
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		got, err := st.Get(b.Context(), key)
		elapsed += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if !bytes.Equal(got, body) {
			b.Fatalf("read %d bytes that differ from the %d written", len(got), len(body))
		}
	}
	per := elapsed.Seconds() / float64(b.N)
	b.ReportMetric(per/(float64(len(body))/1e9), "s/GB")
	b.ReportMetric(float64(len(body))/1e6/per, "MB/s")
	b.ReportMetric(0, "ns/op")
}
