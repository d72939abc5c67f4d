// Command jobmanager runs Weir's jobmanager: it accepts jobs over gRPC,
// tracks taskmanagers and their slots, and runs one job master per job.
//
//	jobmanager [--rpc-address 127.0.0.1:6123] [--http-address 127.0.0.1:8081] [--config weir.yaml] [-D key=value]...
package main

import (
	"os"

	"github.com/weirstream/weir/entrypoint"
)

func main() {
	entrypoint.Exit("jobmanager", entrypoint.JobManager(entrypoint.SignalContext(), os.Args[1:]))
}
