// Command s3init creates the S3 bucket that Weir's checkpoints go to, for a
// fresh MinIO in deploy/docker-compose.yml (the minio-init service). It
// retries until the store answers or -timeout passes, succeeds if the bucket
// exists already, and exits 0 when the bucket is there. It is deployment
// tooling; production buckets are made by whoever owns the account.
//
// It reads the same WEIR_ environment as the jobmanager and taskmanagers,
// so one compose anchor configures all of them:
//
//	WEIR_S3_ENDPOINT           http://minio:9000 (-endpoint)
//	WEIR_S3_ACCESS_KEY         (-access-key)
//	WEIR_S3_SECRET_KEY         (-secret-key)
//	WEIR_S3_REGION             (-region)
//	WEIR_S3_PATH_STYLE_ACCESS  true for MinIO (-path-style)
//	WEIR_STATE_CHECKPOINTS_DIR s3://BUCKET/prefix: the bucket, unless -bucket names one
package main
