package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// grpcurlVersion is the grpcurl the test installs from the Go module proxy.
const grpcurlVersion = "v1.9.4"

// grpcurl returns the path of grpcurl, installing it under .cache/bin.
func grpcurl(t *testing.T) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, ".cache", "bin", "grpcurl-"+grpcurlVersion)
	path := filepath.Join(dir, "grpcurl")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	cmd := exec.Command("go", "install", "github.com/fullstorydev/grpcurl/cmd/grpcurl@"+grpcurlVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("installing grpcurl: %v\n%s", err, out)
	}
	return path
}

// A stock gRPC client lists the services by reflection and calls ListJobs.
func TestGrpcurlReflection(t *testing.T) {
	g := grpcurl(t)
	c := startCluster(t, 1, 1)
	out, err := exec.Command(g, "-plaintext", c.addr, "list").CombinedOutput()
	if err != nil {
		t.Fatalf("grpcurl list: %v\n%s", err, out)
	}
	for _, svc := range []string{"weir.v1.JobManagerService", "weir.v1.ResourceManagerService"} {
		if !strings.Contains(string(out), svc) {
			t.Fatalf("grpcurl list does not show %s:\n%s", svc, out)
		}
	}
	if _, stderr, err := c.weir("run", "wordcount", "--input", hamlet(t)); err != nil {
		t.Fatalf("weir run: %v\n%s", err, stderr)
	}
	out, err = exec.Command(g, "-plaintext", "-d", "{}", c.addr, "weir.v1.JobManagerService/ListJobs").CombinedOutput()
	if err != nil {
		t.Fatalf("grpcurl ListJobs: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), `"status": "JOB_STATUS_FINISHED"`) || !strings.Contains(string(out), `"name": "wordcount"`) {
		t.Fatalf("ListJobs through grpcurl does not show the finished job:\n%s", out)
	}
}
