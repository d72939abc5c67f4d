package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "s3init:", err)
		os.Exit(1)
	}
}

// settings say which bucket to create where.
type settings struct {
	host      string // host:port
	secure    bool
	accessKey string
	secretKey string
	region    string
	pathStyle bool
	bucket    string
	timeout   time.Duration
}

func run(args []string) error {
	s, err := parseSettings(args, os.Getenv)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()

	lookup := minio.BucketLookupAuto
	if s.pathStyle {
		lookup = minio.BucketLookupPath
	}
	client, err := minio.New(s.host, &minio.Options{
		Creds:        credentials.NewStaticV4(s.accessKey, s.secretKey, ""),
		Secure:       s.secure,
		Region:       s.region,
		BucketLookup: lookup,
		MaxRetries:   1,
	})
	if err != nil {
		return err
	}
	retry := time.NewTicker(500 * time.Millisecond)
	defer retry.Stop()
	for attempt := 1; ; attempt++ {
		created, err := ensureBucket(ctx, client, s.bucket, s.region)
		if err == nil {
			log.Info("bucket ready", "bucket", s.bucket, "endpoint", s.host, "created", created, "attempts", attempt)
			return nil
		}
		if attempt == 1 || attempt%10 == 0 {
			log.Info("waiting for the object store", "endpoint", s.host, "attempt", attempt, "err", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bucket %q at %s not ready after %v: %w", s.bucket, s.host, s.timeout, err)
		case <-retry.C:
		}
	}
}

// ensureBucket creates bucket unless it exists and reports whether it
// created it.
func ensureBucket(ctx context.Context, c *minio.Client, bucket, region string) (bool, error) {
	ok, err := c.BucketExists(ctx, bucket)
	if err != nil {
		return false, err
	}
	if ok {
		return false, nil
	}
	err = c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: region})
	switch code := minio.ToErrorResponse(err).Code; {
	case err == nil:
		return true, nil
	case code == "BucketAlreadyOwnedByYou" || code == "BucketAlreadyExists":
		return false, nil
	default:
		return false, err
	}
}

func parseSettings(args []string, getenv func(string) string) (settings, error) {
	fs := flag.NewFlagSet("s3init", flag.ContinueOnError)
	endpoint := fs.String("endpoint", getenv("WEIR_S3_ENDPOINT"), "http:// or https:// URL of the S3 API")
	accessKey := fs.String("access-key", getenv("WEIR_S3_ACCESS_KEY"), "access key")
	secretKey := fs.String("secret-key", getenv("WEIR_S3_SECRET_KEY"), "secret key (prefer the environment)")
	region := fs.String("region", getenv("WEIR_S3_REGION"), "region of the bucket")
	pathStyle := fs.Bool("path-style", false, "address buckets by path, as MinIO needs (default WEIR_S3_PATH_STYLE_ACCESS)")
	bucket := fs.String("bucket", "", "bucket to create (default: the bucket of WEIR_STATE_CHECKPOINTS_DIR)")
	timeout := fs.Duration("timeout", time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return settings{}, err
	}
	if fs.NArg() > 0 {
		return settings{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	s := settings{accessKey: *accessKey, secretKey: *secretKey, region: *region, pathStyle: *pathStyle, bucket: *bucket, timeout: *timeout}
	if !set["path-style"] {
		if v := getenv("WEIR_S3_PATH_STYLE_ACCESS"); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return settings{}, fmt.Errorf("WEIR_S3_PATH_STYLE_ACCESS: %w", err)
			}
			s.pathStyle = b
		}
	}
	u, err := url.Parse(*endpoint)
	switch {
	case *endpoint == "":
		return settings{}, errors.New("no endpoint: set -endpoint or WEIR_S3_ENDPOINT")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return settings{}, errors.New("endpoint must be http://HOST[:PORT] or https://HOST[:PORT]")
	}
	s.host, s.secure = u.Host, u.Scheme == "https"
	if s.accessKey == "" || s.secretKey == "" {
		return settings{}, errors.New("no credentials: set WEIR_S3_ACCESS_KEY and WEIR_S3_SECRET_KEY")
	}
	if s.bucket == "" {
		dir := getenv("WEIR_STATE_CHECKPOINTS_DIR")
		d, err := url.Parse(dir)
		if err != nil || d.Scheme != "s3" || d.Host == "" {
			return settings{}, fmt.Errorf("no bucket: set -bucket, or WEIR_STATE_CHECKPOINTS_DIR to s3://BUCKET/... (it is %q)", dir)
		}
		s.bucket = d.Host
	}
	return s, nil
}
