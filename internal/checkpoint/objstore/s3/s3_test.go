package s3_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/weirstream/weir/internal/checkpoint/objstore"
	"github.com/weirstream/weir/internal/checkpoint/objstore/miniotest"
	"github.com/weirstream/weir/internal/checkpoint/objstore/objstoretest"
	"github.com/weirstream/weir/internal/checkpoint/objstore/s3"
)

// One MinIO server for every test here.
func TestMain(m *testing.M) { miniotest.Main(m) }

func options(t *testing.T) objstore.Options {
	endpoint, accessKey, secretKey := miniotest.Start(t)
	return objstore.Options{
		Endpoint:        endpoint,
		Region:          "us-east-1",
		AccessKey:       accessKey,
		SecretKey:       secretKey,
		PathStyleAccess: true,
	}
}

// uniquePrefix keeps tests, and reruns with -count, apart in the shared
// bucket.
func uniquePrefix(t *testing.T) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return t.Name() + "-" + hex.EncodeToString(b)
}

func open(t *testing.T, opts objstore.Options) *s3.Store {
	t.Helper()
	s, err := s3.Open(t.Context(), miniotest.Bucket, uniquePrefix(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	opts := options(t)
	objstoretest.Run(t, func(t *testing.T) objstore.Store {
		s, err := s3.Open(t.Context(), miniotest.Bucket, uniquePrefix(t), opts)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestConformanceWholeBucket runs the suite on a store without a prefix,
// in a bucket of its own.
func TestConformanceWholeBucket(t *testing.T) {
	opts := options(t)
	client := rawClient(t, opts)
	objstoretest.Run(t, func(t *testing.T) objstore.Store {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		bucket := "whole-" + hex.EncodeToString(b)
		if err := client.MakeBucket(t.Context(), bucket, minio.MakeBucketOptions{}); err != nil {
			t.Fatal(err)
		}
		s, err := s3.Open(t.Context(), bucket, "", opts)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestConformanceViaOpenAndRetrying: the store as the runtime gets it, from
// a URI, behind Retrying.
func TestConformanceViaOpenAndRetrying(t *testing.T) {
	opts := options(t)
	objstoretest.Run(t, func(t *testing.T) objstore.Store {
		s, err := objstore.Open(t.Context(), "s3://"+miniotest.Bucket+"/"+uniquePrefix(t), opts)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := s.(*s3.Store); !ok {
			t.Fatalf("Open(s3://...) = %T", s)
		}
		return objstore.Retrying(s, objstore.DefaultRetryPolicy(), realClock{})
	})
}

func rawClient(t *testing.T, opts objstore.Options) *minio.Client {
	t.Helper()
	client, err := minio.New(strings.TrimPrefix(opts.Endpoint, "http://"), &minio.Options{
		Creds:  credentials.NewStaticV4(opts.AccessKey, opts.SecretKey, ""),
		Region: opts.Region,
	})
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// TestConditionalWrites records what the pinned MinIO answers to
// If-None-Match: * on an existing key (412 PreconditionFailed), which
// PutIfAbsent depends on.
func TestConditionalWrites(t *testing.T) {
	ctx := t.Context()
	opts := options(t)
	client := rawClient(t, opts)
	key := uniquePrefix(t) + "/_metadata"
	put := func(body string) error {
		o := minio.PutObjectOptions{}
		o.SetMatchETagExcept("*")
		_, err := client.PutObject(ctx, miniotest.Bucket, key, strings.NewReader(body), int64(len(body)), o)
		return err
	}
	if err := put("first"); err != nil {
		t.Fatalf("conditional PUT of a new key: %v", err)
	}
	err := put("second")
	resp := minio.ToErrorResponse(err)
	t.Logf("conditional PUT of an existing key: HTTP %d %s: %s", resp.StatusCode, resp.Code, resp.Message)
	if resp.StatusCode != http.StatusPreconditionFailed {
		t.Fatalf("conditional PUT of an existing key = %v (HTTP %d), want 412", err, resp.StatusCode)
	}
	obj, err := client.GetObject(ctx, miniotest.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	var got bytes.Buffer
	if _, err := got.ReadFrom(obj); err != nil || got.String() != "first" {
		t.Fatalf("object = %q, %v; want the first body", got.String(), err)
	}
}

// TestLargeObjectsPastOnePart: above 16 MiB Put goes multipart and
// PutIfAbsent stays a single request; both must round-trip.
func TestLargeObjectsPastOnePart(t *testing.T) {
	ctx := t.Context()
	s := open(t, options(t))
	body := make([]byte, 20<<20)
	_, _ = rand.Read(body)
	if err := s.Put(ctx, "big/put", body); err != nil {
		t.Fatal(err)
	}
	if err := s.PutIfAbsent(ctx, "big/put-if-absent", body); err != nil {
		t.Fatal(err)
	}
	if err := s.PutIfAbsent(ctx, "big/put-if-absent", body); !errors.Is(err, objstore.ErrExist) {
		t.Fatalf("second PutIfAbsent = %v, want ErrExist", err)
	}
	for _, key := range []string{"big/put", "big/put-if-absent"} {
		got, err := s.Get(ctx, key)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("Get(%q) = %d bytes, %v; want the 20 MiB body", key, len(got), err)
		}
	}
}

// TestPrefixesAreConfined: stores under different prefixes of one bucket
// see only their own keys, even where one prefix starts with the other.
func TestPrefixesAreConfined(t *testing.T) {
	ctx := t.Context()
	opts := options(t)
	base := uniquePrefix(t)
	a, err := s3.Open(ctx, miniotest.Bucket, base+"/a", opts)
	if err != nil {
		t.Fatal(err)
	}
	ab, err := s3.Open(ctx, miniotest.Bucket, base+"/ab", opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Put(ctx, "k", []byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := ab.Put(ctx, "k", []byte("ab")); err != nil {
		t.Fatal(err)
	}
	if err := a.DeletePrefix(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if keys, err := ab.List(ctx, ""); err != nil || len(keys) != 1 || keys[0] != "k" {
		t.Fatalf("after emptying a, ab lists %q, %v", keys, err)
	}
	if got, err := ab.Get(ctx, "k"); err != nil || string(got) != "ab" {
		t.Fatalf("ab/k = %q, %v", got, err)
	}
}

func TestOpenRejectsMissingBucket(t *testing.T) {
	_, err := s3.Open(t.Context(), "no-such-bucket", "", options(t))
	if err == nil || !strings.Contains(err.Error(), `"no-such-bucket" does not exist`) {
		t.Fatalf("Open of a missing bucket = %v", err)
	}
}

// TestSecretsNeverInErrors provokes failures with known secrets, and checks
// that neither key appears in any error message or in the printed options.
func TestSecretsNeverInErrors(t *testing.T) {
	ctx := t.Context()
	good := options(t)
	const (
		badAccess = "AKIAWEIRTESTACCESSKEY"
		badSecret = "weirTestSecretKeyThatMustNotLeak0123456789"
	)
	check := func(what string, err error, secrets ...string) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: no error", what)
			return
		}
		t.Logf("%s: %v", what, err)
		for _, s := range secrets {
			if strings.Contains(err.Error(), s) || strings.Contains(fmt.Sprintf("%+v", err), s) {
				t.Errorf("%s: error leaks a credential: %v", what, err)
			}
		}
	}

	wrongSecret := good
	wrongSecret.SecretKey = badSecret
	_, err := s3.Open(ctx, miniotest.Bucket, "p", wrongSecret)
	check("wrong secret key", err, badSecret, good.AccessKey)
	if errors.Is(err, objstore.ErrNotExist) || objstore.IsRetryable(err) {
		t.Errorf("wrong secret key: %v classified as missing or retryable", err)
	}

	unknownKey := good
	unknownKey.AccessKey, unknownKey.SecretKey = badAccess, badSecret
	_, err = objstore.Open(ctx, "s3://"+miniotest.Bucket+"/p", unknownKey)
	check("unknown access key", err, badAccess, badSecret)

	// The server goes away under an open store: transport errors.
	unreachable := good
	unreachable.Endpoint = "http://127.0.0.1:1"
	unreachable.AccessKey, unreachable.SecretKey = badAccess, badSecret
	_, err = s3.Open(ctx, miniotest.Bucket, "p", unreachable)
	check("unreachable endpoint", err, badAccess, badSecret)
	if !objstore.IsRetryable(err) {
		t.Errorf("unreachable endpoint: %v is not retryable", err)
	}

	withUserinfo := good
	withUserinfo.Endpoint = "http://" + badAccess + ":" + badSecret + "@127.0.0.1:9000"
	_, err = s3.Open(ctx, miniotest.Bucket, "p", withUserinfo)
	check("credentials in the endpoint", err, badAccess, badSecret)

	// Operations of an opened store whose credentials are then wrong.
	s := open(t, good)
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	check("canceled Put", s.Put(canceled, "k", []byte("v")), good.AccessKey, good.SecretKey)

	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("s3", "opts", good)
	for what, out := range map[string]string{"String": good.String(), "%+v": fmt.Sprintf("%+v", good), "%#v": fmt.Sprintf("%#v", good), "LogValue": logs.String()} {
		if strings.Contains(out, good.AccessKey) || strings.Contains(out, good.SecretKey) || !strings.Contains(out, "******") {
			t.Errorf("%s = %s: want the credentials masked", what, out)
		}
	}
}

func TestCredentialsFromEnvironment(t *testing.T) {
	good := options(t)
	t.Setenv("AWS_ACCESS_KEY_ID", good.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", good.SecretKey)
	t.Setenv("AWS_REGION", "us-east-1")
	s, err := s3.Open(t.Context(), miniotest.Bucket, uniquePrefix(t), objstore.Options{Endpoint: good.Endpoint, PathStyleAccess: true})
	if err != nil {
		t.Fatalf("Open with credentials from the environment: %v", err)
	}
	defer s.Close()
	if err := s.Put(t.Context(), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
}
