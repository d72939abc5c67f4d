package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/rpc"
	"github.com/weirstream/weir/internal/security"
)

// rpcTimeout bounds each call to the jobmanager.
const rpcTimeout = 30 * time.Second

// client is a connection to the jobmanager.
type client struct {
	weirv1.JobManagerServiceClient
	conn *grpc.ClientConn
	addr string
	tls  bool // whether the connection uses TLS
}

// dial returns a client of the jobmanager at c.jobmanager. It does not
// connect: the first call does, and reports an unreachable jobmanager.
func (c *cli) dial() (*client, error) {
	opts, err := c.securityOptions()
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(c.jobmanager, rpc.DialOptions(rpc.DefaultMaxMessageSize, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("jobmanager address %q: %w", c.jobmanager, err)
	}
	return &client{JobManagerServiceClient: weirv1.NewJobManagerServiceClient(conn), conn: conn, addr: c.jobmanager, tls: len(opts) > 0}, nil
}

// securityOptions returns the TLS and token options of the connection;
// none for a plaintext jobmanager without access control. The token is
// --token, else $WEIR_TOKEN: it is read here rather than shown as the
// flag's default, so that --help never prints it.
func (c *cli) securityOptions() ([]grpc.DialOption, error) {
	token := c.token
	if token == "" {
		token = strings.TrimSpace(c.getenv("WEIR_TOKEN"))
	}
	if c.tlsCA == "" && c.tlsCert == "" {
		if token != "" {
			return nil, errors.New("a token is only sent over TLS: set --tls-ca or WEIR_TLS_CA to the jobmanager's CA")
		}
		return nil, nil
	}
	m, err := security.LoadMaterial(c.tlsCert, c.tlsKey, c.tlsCA, nil)
	if err != nil {
		return nil, err
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(m.ClientConfig()))}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(security.BearerToken(token)))
	}
	return opts, nil
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
		hint, cause := "is it running? set it with -m or WEIR_JOBMANAGER", lastPart(st.Message())
		if !cl.tls && !strings.Contains(cause, "connection refused") {
			// It answered, but not in plaintext gRPC.
			hint += "; if it uses TLS, set --tls-ca or WEIR_TLS_CA"
		}
		return fmt.Errorf("cannot reach the jobmanager at %s (%s): %s", cl.addr, hint, cause)
	case codes.Unauthenticated:
		return fmt.Errorf("not authenticated: %s", st.Message())
	case codes.PermissionDenied:
		return fmt.Errorf("permission denied: %s", st.Message())
	case codes.ResourceExhausted:
		if strings.Contains(st.Message(), "larger than max") {
			// gRPC's own refusal, which names the sizes but not the option.
			return fmt.Errorf("the request is too large for the jobmanager: %s (rpc.max-message-size)", lastPart(st.Message()))
		}
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
