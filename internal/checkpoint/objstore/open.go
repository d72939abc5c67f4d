package objstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/weirstream/weir/internal/checkpoint/objstore/file"
	"github.com/weirstream/weir/internal/checkpoint/objstore/memory"
	"github.com/weirstream/weir/internal/checkpoint/objstore/s3"
)

var (
	_ Store = (*memory.Store)(nil)
	_ Store = (*file.Store)(nil)
	_ Store = (*s3.Store)(nil)
)

// Open returns the store a URI names, as state.checkpoints.dir and
// state.savepoints.dir spell it:
//
//	memory://NAME          the in-process store shared by NAME (tests, mini cluster)
//	file:///abs/dir        a local directory, created if missing
//	/abs/dir               the same
//	s3://bucket/prefix     an S3 bucket, under prefix (s3a:// and s3p:// are accepted too)
//
// opts is used by s3 only. The bucket of an s3:// URI must exist; Open checks
// it, and the credentials, with one request.
func Open(ctx context.Context, uri string, opts Options) (Store, error) {
	if strings.HasPrefix(uri, "/") {
		return file.Open(uri)
	}
	if name, ok := strings.CutPrefix(uri, "memory://"); ok {
		if name == "" {
			return nil, errors.New("objstore: memory:// needs a name, as in memory://checkpoints")
		}
		return memory.Named(name), nil
	}
	u, err := url.Parse(uri)
	if err != nil || u.Scheme == "" {
		return nil, fmt.Errorf("objstore: storage location %q is not an absolute path or a memory://, file:// or s3:// URI", uri)
	}
	if u.User != nil {
		return nil, fmt.Errorf("objstore: storage location %q must not contain credentials; pass them in Options or the environment", u.Redacted())
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("objstore: %q: file:// URIs name local directories; the host must be empty, as in file:///var/weir/checkpoints", uri)
		}
		if u.Path == "" {
			return nil, fmt.Errorf("objstore: %q names no directory", uri)
		}
		return file.Open(u.Path)
	case "s3", "s3a", "s3p":
		if u.Host == "" {
			return nil, fmt.Errorf("objstore: %q names no bucket, as in s3://bucket/prefix", uri)
		}
		return s3.Open(ctx, u.Host, u.Path, opts)
	}
	return nil, fmt.Errorf("objstore: storage location %q: unknown scheme %q (want memory, file or s3)", u.Redacted(), u.Scheme)
}
