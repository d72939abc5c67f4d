package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/rpc"
)

// rpcTimeout bounds each call to the jobmanager.
const rpcTimeout = 30 * time.Second

// client is a connection to the jobmanager.
type client struct {
	weirv1.JobManagerServiceClient
	conn *grpc.ClientConn
	addr string
}

// dial returns a client of the jobmanager at c.jobmanager. It does not
// connect: the first call does, and reports an unreachable jobmanager.
func (c *cli) dial() (*client, error) {
	conn, err := grpc.NewClient(c.jobmanager, rpc.DialOptions(rpc.DefaultMaxMessageSize)...)
	if err != nil {
		return nil, fmt.Errorf("jobmanager address %q: %w", c.jobmanager, err)
	}
	return &client{JobManagerServiceClient: weirv1.NewJobManagerServiceClient(conn), conn: conn, addr: c.jobmanager}, nil
}

func (cl *client) Close() error { return cl.conn.Close() }

// call runs one RPC with the call timeout and turns its error into the
// server's message, without gRPC's framing.
func call[Req, Resp any](ctx context.Context, cl *client, method func(context.Context, Req, ...grpc.CallOption) (Resp, error), req Req) (Resp, error) {
	ctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	resp, err := method(ctx, req)
	if err != nil {
		return resp, cl.rpcError(err, rpcTimeout)
	}
	return resp, nil
}

// callLong runs one RPC that may rightly take minutes, such as a savepoint,
// bounded only by ctx, and turns its error as call does.
func callLong[Req, Resp any](ctx context.Context, cl *client, method func(context.Context, Req, ...grpc.CallOption) (Resp, error), req Req) (Resp, error) {
	resp, err := method(ctx, req)
	if err != nil {
		return resp, cl.rpcError(err, 0)
	}
	return resp, nil
}

// rpcError turns a gRPC error into the server's message: "rejected:
// operators[0]...", not "rpc error: code = InvalidArgument desc = ...".
// timeout is the call's own deadline, 0 for none: a deadline the server
// reports otherwise is its message.
func (cl *client) rpcError(err error, timeout time.Duration) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.Canceled:
		return context.Canceled
	case codes.Unavailable:
		return fmt.Errorf("cannot reach the jobmanager at %s (is it running? set it with -m or WEIR_JOBMANAGER): %s", cl.addr, lastPart(st.Message()))
	case codes.DeadlineExceeded:
		if timeout > 0 {
			return fmt.Errorf("the jobmanager at %s did not answer within %v", cl.addr, timeout)
		}
	}
	return errors.New(st.Message())
}

// lastPart returns the innermost cause of a transport message such as
// `connection error: desc = "transport: Error while dialing: dial tcp
// 127.0.0.1:1: connect: connection refused"`.
func lastPart(msg string) string {
	msg = strings.TrimRight(msg, `"`)
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		return msg[i+2:]
	}
	return msg
}
