// Package s3 is an objstore.Store in an S3 bucket, through minio-go: AWS S3,
// MinIO, or any S3-compatible service that supports conditional writes.
//
// Keys live under the store's prefix: with prefix "weir/prod", the key
// "job-1/chk-7/_metadata" is the object "weir/prod/job-1/chk-7/_metadata".
//
// Put uploads in one request up to 16 MiB and as a multipart upload above
// that; either way S3 makes the object visible whole or not at all. Uploads
// carry a CRC32C checksum the server verifies.
//
// Get reads an object of up to 8 MiB in one request, and a larger one in
// ranged parts of 8 MiB, four at a time, straight into one buffer of the
// object's size; the parts after the first are pinned with If-Match to the
// ETag the first part came with.
//
// PutIfAbsent is a single PUT with "If-None-Match: *": S3 (since August
// 2024) and MinIO answer 412 Precondition Failed if the key exists, which
// is reported as ErrExist. A server that rejects the header gets
// ErrConditionalWritesUnsupported. Beware of servers that ignore it
// silently: PutIfAbsent then overwrites, and racing publishers can both
// succeed. The conformance suite (objstoretest) catches such a server.
//
// The client makes one attempt per request (minio-go's own retries are off):
// a hidden retry of a PutIfAbsent whose first attempt landed would report
// ErrExist for the caller's own write. Wrap the store with
// objstore.Retrying, which handles that case.
//
// Errors from the service become *objstore.StatusError (404 NoSuchKey is
// ErrNotExist, 412 is ErrExist), so objstore.IsRetryable classifies them. A
// 403 stays a 403: S3 answers 403, not 404, for a missing key when the
// credentials may not list the bucket, and a missing object must not be
// inferred from it. No error message contains the access or secret key.
package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"golang.org/x/sync/errgroup"

	"github.com/weirstream/weir/internal/checkpoint/objstore/internal/contract"
)

// ErrConditionalWritesUnsupported is returned by PutIfAbsent when the server
// rejects "If-None-Match: *". Checkpoints cannot be published safely on such
// a server.
var ErrConditionalWritesUnsupported = errors.New("objstore/s3: the server does not support conditional writes (If-None-Match: *), which PutIfAbsent needs; use AWS S3 or a MinIO release from 2024 or later")

// Store is an object store under a prefix of an S3 bucket.
type Store struct {
	client    *minio.Client
	transport *http.Transport
	bucket    string
	prefix    string   // "" or ends with "/"
	secrets   []string // scrubbed from every error message

	// getPartSize and getParallelism are those of Get (below); tests
	// make parts small.
	getPartSize    int64
	getParallelism int
}

// Open returns a store for bucket under prefix ("" for the whole bucket),
// after checking that the bucket exists and the credentials can reach it.
// Empty AccessKey, SecretKey and Region fall back to AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY and AWS_REGION; an empty Endpoint means AWS S3.
func Open(ctx context.Context, bucket, prefix string, opts contract.Options) (*Store, error) {
	if bucket == "" {
		return nil, errors.New("objstore/s3: no bucket")
	}
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		if err := contract.ValidateKey(prefix); err != nil {
			return nil, fmt.Errorf("objstore/s3: bucket prefix: %w", err)
		}
		prefix += "/"
	}
	opts = withEnv(opts)
	if opts.AccessKey == "" || opts.SecretKey == "" {
		return nil, errors.New("objstore/s3: no credentials: set the access key and secret key, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	s := &Store{bucket: bucket, prefix: prefix, secrets: []string{opts.SecretKey, opts.AccessKey},
		getPartSize: getPartSize, getParallelism: getParallelism}

	host, secure, err := parseEndpoint(opts.Endpoint)
	if err != nil {
		return nil, err
	}
	if s.transport, err = minio.DefaultTransport(secure); err != nil {
		return nil, fmt.Errorf("objstore/s3: %w", err)
	}
	lookup := minio.BucketLookupAuto
	if opts.PathStyleAccess {
		lookup = minio.BucketLookupPath
	}
	s.client, err = minio.New(host, &minio.Options{
		Creds:           credentials.NewStaticV4(opts.AccessKey, opts.SecretKey, ""),
		Secure:          secure,
		Transport:       s.transport,
		Region:          opts.Region,
		BucketLookup:    lookup,
		TrailingHeaders: true,
		MaxRetries:      1,
	})
	if err != nil {
		return nil, fmt.Errorf("objstore/s3: %w", s.scrub(err))
	}
	ok, err := s.client.BucketExists(ctx, bucket)
	if err != nil {
		s.transport.CloseIdleConnections()
		return nil, fmt.Errorf("objstore/s3: bucket %q: %w", bucket, s.convert(err))
	}
	if !ok {
		s.transport.CloseIdleConnections()
		return nil, fmt.Errorf("objstore/s3: bucket %q does not exist", bucket)
	}
	return s, nil
}

func withEnv(opts contract.Options) contract.Options {
	if opts.AccessKey == "" && opts.SecretKey == "" {
		opts.AccessKey = os.Getenv("AWS_ACCESS_KEY_ID")
		opts.SecretKey = os.Getenv("AWS_SECRET_ACCESS_KEY")
	}
	if opts.Region == "" {
		opts.Region = os.Getenv("AWS_REGION")
	}
	return opts
}

// parseEndpoint turns "https://host:port" into minio-go's host and secure
// flag. It never echoes the endpoint in an error: it might hold credentials.
func parseEndpoint(endpoint string) (host string, secure bool, err error) {
	if endpoint == "" {
		return "s3.amazonaws.com", true, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", false, errors.New("objstore/s3: endpoint is not a URL")
	}
	switch {
	case u.User != nil:
		return "", false, errors.New("objstore/s3: endpoint must not contain credentials; set the access key and secret key instead")
	case u.Scheme != "http" && u.Scheme != "https":
		return "", false, fmt.Errorf("objstore/s3: endpoint %q: scheme must be http or https", u.Redacted())
	case u.Host == "":
		return "", false, fmt.Errorf("objstore/s3: endpoint %q has no host", u.Redacted())
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "":
		return "", false, fmt.Errorf("objstore/s3: endpoint %q: only scheme://host[:port] is allowed", u.Redacted())
	}
	return u.Host, u.Scheme == "https", nil
}

// Bucket returns the store's bucket.
func (s *Store) Bucket() string { return s.bucket }

// Prefix returns the store's prefix, "" or ending with '/'.
func (s *Store) Prefix() string { return s.prefix }

func (s *Store) object(key string) string { return s.prefix + key }

func (s *Store) check(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := contract.ValidateKey(key); err != nil {
		return err
	}
	if len(s.prefix)+len(key) > contract.MaxKeyLen {
		return &contract.KeyError{Key: key, Reason: fmt.Sprintf("longer than %d bytes with the store's prefix %q", contract.MaxKeyLen, s.prefix)}
	}
	return nil
}

func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := s.check(ctx, key); err != nil {
		return nil, err
	}
	body, err := s.get(ctx, s.object(key))
	if err != nil {
		return nil, fmt.Errorf("objstore/s3: get %q: %w", key, err)
	}
	return body, nil
}

// Get's parts: see get.
const (
	getPartSize    = 8 << 20
	getParallelism = 4
)

// get reads an object of up to getPartSize bytes in one request. A larger
// one (a Pebble SST, a canonical snapshot) is read in parts of getPartSize
// by up to getParallelism ranged GETs at a time, each straight into its
// place in one buffer of the object's size: one stream is bound by one
// connection's round trips and one core's receive path, and the buffer is
// filled without io.ReadAll's regrowth and copies. The first request asks
// for the first part and learns the object's size and ETag from the
// response; the other parts are read with If-Match on that ETag, so an
// object replaced meanwhile fails the read instead of being stitched
// together from two versions.
func (s *Store) get(ctx context.Context, object string) ([]byte, error) {
	ctx, cancel := context.WithCancel(ctx) // ends the group's context on every return
	defer cancel()
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(s.getParallelism)
	opts := minio.GetObjectOptions{}
	if err := opts.SetRange(0, s.getPartSize-1); err != nil {
		return nil, err
	}
	core := minio.Core{Client: s.client}
	body, info, header, err := core.GetObject(ctx, s.bucket, object, opts)
	if minio.ToErrorResponse(err).StatusCode == http.StatusRequestedRangeNotSatisfiable {
		// An empty object: it has no byte 0 to ask for.
		body, info, header, err = core.GetObject(ctx, s.bucket, object, minio.GetObjectOptions{})
	}
	if err != nil {
		return nil, s.convert(err)
	}
	size, first := info.Size, info.Size // a server that ignores Range sends it all
	if info.Size < 0 {
		body.Close()
		return nil, errors.New("the response has no Content-Length")
	}
	if cr := header.Get("Content-Range"); cr != "" {
		if _, err := fmt.Sscanf(cr, "bytes 0-%d/%d", &first, &size); err != nil || first+1 != info.Size || size < info.Size {
			body.Close()
			return nil, fmt.Errorf("the first part's Content-Range %q does not match its %d bytes", cr, info.Size)
		}
		first = info.Size
	}
	buf := make([]byte, size)
	g.Go(func() error {
		defer body.Close()
		return s.readPart(body, buf[:first], 0, size)
	})
	for start := first; start < size; start += s.getPartSize {
		part := buf[start:min(start+s.getPartSize, size)]
		g.Go(func() error { return s.getPart(ctx, core, object, info.ETag, part, start, size) })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return buf, nil
}

// getPart reads the bytes of object from start into part, the rest of a
// size-byte object whose first part had etag.
func (s *Store) getPart(ctx context.Context, core minio.Core, object, etag string, part []byte, start, size int64) error {
	end := start + int64(len(part)) - 1
	opts := minio.GetObjectOptions{}
	if err := opts.SetRange(start, end); err != nil {
		return err
	}
	if err := opts.SetMatchETag(etag); err != nil {
		return err
	}
	body, _, header, err := core.GetObject(ctx, s.bucket, object, opts)
	if resp := minio.ToErrorResponse(err); resp.StatusCode == http.StatusPreconditionFailed {
		return fmt.Errorf("bytes %d-%d of %d: the object was replaced while its parts were read (ETag %s no longer matches)", start, end, size, etag)
	}
	if err != nil {
		return fmt.Errorf("bytes %d-%d of %d: %w", start, end, size, s.convert(err))
	}
	defer body.Close()
	if want := fmt.Sprintf("bytes %d-%d/%d", start, end, size); header.Get("Content-Range") != want {
		return fmt.Errorf("bytes %d-%d of %d: the server answered Content-Range %q, want %q", start, end, size, header.Get("Content-Range"), want)
	}
	return s.readPart(body, part, start, size)
}

// readPart fills part, the bytes of a size-byte object from start, from
// body, which must hold exactly that many.
func (s *Store) readPart(body io.Reader, part []byte, start, size int64) error {
	end := start + int64(len(part)) - 1
	if n, err := io.ReadFull(body, part); err != nil {
		return fmt.Errorf("bytes %d-%d of %d: the response ended after %d bytes: %w", start, end, size, n, s.convert(err))
	}
	return nil
}

func (s *Store) putOptions() minio.PutObjectOptions {
	return minio.PutObjectOptions{
		ContentType: "application/octet-stream",
		Checksum:    minio.ChecksumCRC32C,
	}
}

func (s *Store) Put(ctx context.Context, key string, body []byte) error {
	if err := s.check(ctx, key); err != nil {
		return err
	}
	_, err := s.client.PutObject(ctx, s.bucket, s.object(key), bytes.NewReader(body), int64(len(body)), s.putOptions())
	if err != nil {
		return fmt.Errorf("objstore/s3: put %q: %w", key, s.convert(err))
	}
	return nil
}

// PutFile uploads the local file at src as key, streamed from the file
// (in parts above minio-go's part size) rather than read whole first.
func (s *Store) PutFile(ctx context.Context, key, src string) error {
	if err := s.check(ctx, key); err != nil {
		return err
	}
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("objstore/s3: put %q: %w", key, err)
	}
	defer func() { _ = f.Close() }()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("objstore/s3: put %q: %w", key, err)
	}
	if _, err := s.client.PutObject(ctx, s.bucket, s.object(key), f, info.Size(), s.putOptions()); err != nil {
		return fmt.Errorf("objstore/s3: put %q from %s: %w", key, src, s.convert(err))
	}
	return nil
}

func (s *Store) PutIfAbsent(ctx context.Context, key string, body []byte) error {
	if err := s.check(ctx, key); err != nil {
		return err
	}
	opts := s.putOptions()
	opts.SetMatchETagExcept("*") // If-None-Match: *
	// One request: in a multipart upload the condition would be checked
	// only on completion, after every part had been uploaded.
	opts.DisableMultipart = true
	_, err := s.client.PutObject(ctx, s.bucket, s.object(key), bytes.NewReader(body), int64(len(body)), opts)
	if err == nil {
		return nil
	}
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		switch {
		case resp.StatusCode == http.StatusNotModified:
			// MinIO before 2024 answered a failed If-None-Match with 304; the
			// condition was evaluated and nothing was written.
			return fmt.Errorf("objstore/s3: put-if-absent %q: %w", key, contract.ErrExist)
		case resp.StatusCode == http.StatusNotImplemented || resp.Code == "NotImplemented":
			return fmt.Errorf("objstore/s3: put-if-absent %q: %w (%w)", key, ErrConditionalWritesUnsupported, s.convert(err))
		}
	}
	return fmt.Errorf("objstore/s3: put-if-absent %q: %w", key, s.convert(err))
}

func (s *Store) List(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := contract.ValidatePrefix(prefix); err != nil {
		return nil, err
	}
	// Canceling stops minio-go's listing goroutine if we return early.
	listCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	keys := make([]string, 0)
	for info := range s.client.ListObjects(listCtx, s.bucket, minio.ListObjectsOptions{Prefix: s.object(prefix), Recursive: true}) {
		if info.Err != nil {
			return nil, fmt.Errorf("objstore/s3: list %q: %w", prefix, s.convert(info.Err))
		}
		key := strings.TrimPrefix(info.Key, s.prefix)
		if contract.ValidateKey(key) != nil {
			continue // not written through a Store (a "directory" marker, say)
		}
		keys = append(keys, key)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	slices.Sort(keys)
	return keys, nil
}

func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.check(ctx, key); err != nil {
		return err
	}
	// S3 answers 204 for a missing key too.
	if err := s.client.RemoveObject(ctx, s.bucket, s.object(key), minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("objstore/s3: delete %q: %w", key, s.convert(err))
	}
	return nil
}

func (s *Store) DeletePrefix(ctx context.Context, prefix string) error {
	keys, err := s.List(ctx, prefix)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	// The feeder sends the keys until RemoveObjects has read them all or
	// removeCtx is canceled; it is waited for before returning.
	removeCtx, cancel := context.WithCancel(ctx)
	objects := make(chan minio.ObjectInfo)
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		defer close(objects)
		for _, k := range keys {
			select {
			case objects <- minio.ObjectInfo{Key: s.object(k)}:
			case <-removeCtx.Done():
				return
			}
		}
	}()
	var errs []error
	for rerr := range s.client.RemoveObjects(removeCtx, s.bucket, objects, minio.RemoveObjectsOptions{}) {
		errs = append(errs, fmt.Errorf("%q: %w", strings.TrimPrefix(rerr.ObjectName, s.prefix), s.convert(rerr.Err)))
	}
	cancel()
	<-fed
	if err := ctx.Err(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("objstore/s3: delete-prefix %q: %w", prefix, err)
	}
	return nil
}

// Close closes idle connections.
func (s *Store) Close() error {
	s.transport.CloseIdleConnections()
	return nil
}

// convert maps a minio-go error to objstore's: NoSuchKey is ErrNotExist,
// PreconditionFailed ErrExist, other service errors *StatusError; transport
// errors keep their chain (for IsRetryable) under a scrubbed message.
func (s *Store) convert(err error) error {
	var resp minio.ErrorResponse
	if !errors.As(err, &resp) {
		return s.scrub(err)
	}
	switch {
	case resp.Code == "NoSuchKey" || resp.StatusCode == http.StatusNotFound && resp.Code != "NoSuchBucket":
		return contract.ErrNotExist
	case resp.StatusCode == http.StatusPreconditionFailed:
		return contract.ErrExist
	}
	return &contract.StatusError{
		StatusCode: resp.StatusCode,
		Code:       resp.Code,
		Message:    s.scrubString(resp.Message),
	}
}

func (s *Store) scrub(err error) error {
	if err == nil {
		return nil
	}
	msg := s.scrubString(err.Error())
	if msg == err.Error() {
		return err
	}
	return &scrubbed{msg: msg, err: err}
}

func (s *Store) scrubString(msg string) string {
	for _, secret := range s.secrets {
		if secret != "" {
			msg = strings.ReplaceAll(msg, secret, contract.Mask)
		}
	}
	return msg
}

// scrubbed is an error whose message had credentials masked. It unwraps
// to the original, so errors.Is and IsRetryable still see it.
type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }
