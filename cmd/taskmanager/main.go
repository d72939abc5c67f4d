// Command taskmanager runs a Weir taskmanager: it offers slots to the
// jobmanager, runs the subtasks deployed to it and exchanges records with
// its peers.
//
//	taskmanager --jobmanager HOST:PORT [--slots N] [--rpc-address HOST:PORT] [--data-dir DIR] [--config weir.yaml] [-D key=value]...
package main

import (
	"os"

	"github.com/weirstream/weir/entrypoint"
)

func main() {
	entrypoint.Exit("taskmanager", entrypoint.TaskManager(entrypoint.SignalContext(), os.Args[1:]))
}
