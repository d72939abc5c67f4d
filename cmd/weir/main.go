// Command weir is Weir's command-line client: it submits jobs to a
// jobmanager, watches, cancels and stops them, takes savepoints, and runs a
// local cluster.
//
//	weir run [-p N] [-d] [-s PATH [-n]] [-D key=value]... NAME [job args...]
//	weir submit [-d] [-s PATH [-n]] [-D key=value]... JOB.yaml
//	weir list | status [-w] JOB | cancel JOB | programs
//	weir savepoint JOB [DIR] | stop [-p DIR] JOB
//	weir checkpoints [--json] JOB
//	weir local [--taskmanagers N] [--slots S]
//
// The jobmanager is -m/--jobmanager, else $WEIR_JOBMANAGER, else
// 127.0.0.1:6123. A jobmanager with TLS needs --tls-ca (or $WEIR_TLS_CA),
// one with access control a bearer token, --token (or $WEIR_TOKEN), or a
// client certificate, --tls-cert and --tls-key. weir certs writes
// development certificates and tokens.
// Progress goes to stderr; -q/--quiet leaves only results and errors.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, a second one kills the process as usual.
	context.AfterFunc(ctx, stop)
	err := run(ctx, os.Args[1:], &cli{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, environ: os.Environ, now: time.Now, loc: time.Local})
	stop()
	if err != nil {
		code := 1
		if errors.Is(err, errInterrupted) {
			code = 130 // what a shell reports for SIGINT
		} else {
			fmt.Fprintf(os.Stderr, "weir: %v\n", err)
		}
		os.Exit(code)
	}
}

// errInterrupted ends a command stopped by a signal after it has said so.
var errInterrupted = errors.New("interrupted")

// cli is what the commands share: where they write and what they read from
// the process. Tests build their own.
type cli struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	environ        func() []string
	now            func() time.Time
	loc            *time.Location // for printing times

	jobmanager string // -m, set by flag parsing
	quiet      bool   // -q: no progress, for scripts
	token      string // --token
	tlsCA      string // --tls-ca
	tlsCert    string // --tls-cert
	tlsKey     string // --tls-key
}

// progress is where progress goes: stderr, or nowhere with -q.
func (c *cli) progress() io.Writer {
	if c.quiet {
		return io.Discard
	}
	return c.stderr
}

// run runs the command line args.
func run(ctx context.Context, args []string, c *cli) error {
	root := newRootCmd(c)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}
