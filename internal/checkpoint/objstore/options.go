package objstore

import "github.com/weirstream/weir/internal/checkpoint/objstore/internal/contract"

// Options configures S3 access for Open, with the names a Flink user knows
// from s3.endpoint, s3.region, s3.access-key, s3.secret-key and
// s3.path.style.access:
//
//	Endpoint         http:// or https:// URL of the S3 API; empty means AWS
//	Region           empty means AWS_REGION, then the bucket's own (asked of the server)
//	AccessKey        empty means AWS_ACCESS_KEY_ID
//	SecretKey        empty means AWS_SECRET_ACCESS_KEY
//	PathStyleAccess  address buckets as ENDPOINT/bucket (MinIO) rather than bucket.ENDPOINT
//
// String, GoString and LogValue mask AccessKey and SecretKey as "******", so
// options can be printed and logged; errors never contain them either.
// memory:// and file:// stores ignore Options.
type Options = contract.Options
