package config

import (
	"slices"
	"strings"
	"sync"
)

// Keys of the known options. Call sites use these constants, so a typo is
// a compile error rather than an unknown key at run time.
const (
	HeartbeatInterval      = "heartbeat.interval"
	HeartbeatTimeout       = "heartbeat.timeout"
	SlotRequestTimeout     = "slot.request.timeout"
	TaskManagerSlots       = "taskmanager.numberOfTaskSlots"
	TaskManagerProcessSize = "taskmanager.memory.process.size"
	RPCMaxMessageSize      = "rpc.max-message-size"
	JobManagerRPCAddress   = "jobmanager.rpc.address"
	RESTAddress            = "rest.address"
	StateBackend           = "state.backend"
	PebbleLocalDir         = "state.backend.pebble.localdir"
	PebbleMemory           = "state.backend.pebble.memory"
	IncrementalCheckpoints = "state.backend.incremental"
	LocalRecovery          = "state.backend.local-recovery"
	CheckpointsDir         = "state.checkpoints.dir"
	CheckpointsRetained    = "state.checkpoints.num-retained"
	SavepointsDir          = "state.savepoints.dir"
	CheckpointingInterval  = "execution.checkpointing.interval"
	CheckpointingMode      = "execution.checkpointing.mode"
	BufferTimeout          = "execution.buffer-timeout"
	RestartStrategy        = "restart-strategy.type"
	DefaultParallelism     = "parallelism.default"
	MaxParallelism         = "pipeline.max-parallelism"
	S3Endpoint             = "s3.endpoint"
	S3AccessKey            = "s3.access-key"
	S3SecretKey            = "s3.secret-key"
	S3Region               = "s3.region"
	S3PathStyleAccess      = "s3.path-style-access"
	MetricsAddress         = "metrics.address"

	CheckpointingTimeout           = "execution.checkpointing.timeout"
	CheckpointingMinPause          = "execution.checkpointing.min-pause"
	CheckpointingMaxConcurrent     = "execution.checkpointing.max-concurrent-checkpoints"
	CheckpointingTolerableFailures = "execution.checkpointing.tolerable-failed-checkpoints"
	CheckpointRetention            = "execution.checkpointing.externalized-checkpoint-retention"

	FixedDelayAttempts        = "restart-strategy.fixed-delay.attempts"
	FixedDelayDelay           = "restart-strategy.fixed-delay.delay"
	ExponentialInitialBackoff = "restart-strategy.exponential-delay.initial-backoff"
	ExponentialMaxBackoff     = "restart-strategy.exponential-delay.max-backoff"
	ExponentialMultiplier     = "restart-strategy.exponential-delay.backoff-multiplier"
	ExponentialResetThreshold = "restart-strategy.exponential-delay.reset-backoff-threshold"
	ExponentialJitter         = "restart-strategy.exponential-delay.jitter-factor"
	FailureRateMaxFailures    = "restart-strategy.failure-rate.max-failures-per-interval"
	FailureRateInterval       = "restart-strategy.failure-rate.failure-rate-interval"
	FailureRateDelay          = "restart-strategy.failure-rate.delay"

	SSLEnabled     = "security.ssl.enabled"
	SSLCert        = "security.ssl.cert"
	SSLKey         = "security.ssl.key"
	SSLCA          = "security.ssl.ca"
	SSLClientAuth  = "security.ssl.client-auth"
	AuthTokensFile = "security.auth.tokens-file"

	// Limits on what a job submission may ask of the cluster
	// (docs/security.md, "Limits"). Cluster-wide: a job cannot raise them.
	JobMaxGraphSize          = "jobmanager.job.max-graph-size"
	JobMaxOperators          = "jobmanager.job.max-operators"
	JobMaxParallelism        = "jobmanager.job.max-parallelism"
	JobMaxKeyGroups          = "jobmanager.job.max-key-groups"
	CheckpointingMinInterval = "jobmanager.checkpointing.min-interval"
	SubmissionRate           = "jobmanager.submission.rate"
	SubmissionBurst          = "jobmanager.submission.burst"
	StorageAllowedPrefixes   = "security.storage.allowed-prefixes"
)

// Type is the type of an option's value.
type Type int

const (
	// TypeString is any text.
	TypeString Type = iota + 1
	// TypeDuration is a duration (ParseDuration).
	TypeDuration
	// TypeInt is a decimal integer within [Option.Min, Option.Max].
	TypeInt
	// TypeBool is "true" or "false".
	TypeBool
	// TypeBytes is a size in bytes (ParseBytes).
	TypeBytes
	// TypeEnum is one of Option.Values, matched case-insensitively.
	TypeEnum
	// TypeFloat is a decimal number.
	TypeFloat
)

func (t Type) String() string {
	switch t {
	case TypeString:
		return "string"
	case TypeDuration:
		return "duration"
	case TypeInt:
		return "integer"
	case TypeBool:
		return "boolean"
	case TypeBytes:
		return "size"
	case TypeEnum:
		return "enumeration"
	case TypeFloat:
		return "number"
	}
	return "unknown type"
}

// Option describes a known key.
type Option struct {
	Key     string
	Type    Type
	Default string
	// Values are the accepted values of a TypeEnum option, in canonical case.
	Values []string
	// Min and Max bound a TypeInt option; Max 0 means unbounded.
	Min, Max int64
	// Job reports whether a job may set the key (Config.WithJob). Keys that
	// describe a process (addresses, slots, heartbeats, local directories,
	// credentials) are cluster-wide.
	Job         bool
	Description string
}

// options is the registry, grouped by subject.
var options = []Option{
	{Key: CheckpointingInterval, Type: TypeDuration, Default: "0", Job: true,
		Description: "Interval between checkpoints; 0 disables checkpointing."},
	{Key: CheckpointingMode, Type: TypeEnum, Default: "EXACTLY_ONCE", Values: []string{"EXACTLY_ONCE", "AT_LEAST_ONCE"}, Job: true,
		Description: "EXACTLY_ONCE aligns barriers; AT_LEAST_ONCE does not hold inputs while a checkpoint is in progress."},
	{Key: BufferTimeout, Type: TypeDuration, Default: "100ms", Job: true,
		Description: "Longest time a partly filled network buffer waits before it is sent."},
	{Key: HeartbeatInterval, Type: TypeDuration, Default: "1s",
		Description: "Interval between heartbeats from taskmanagers to the jobmanager."},
	{Key: HeartbeatTimeout, Type: TypeDuration, Default: "10s",
		Description: "Time without a heartbeat after which a taskmanager is considered lost."},
	{Key: JobManagerRPCAddress, Type: TypeString, Default: "127.0.0.1:6123",
		Description: "gRPC address of the jobmanager (host:port): where it listens and where taskmanagers register."},
	{Key: DefaultParallelism, Type: TypeInt, Default: "1", Min: 1, Job: true,
		Description: "Parallelism of operators that do not set their own."},
	{Key: MaxParallelism, Type: TypeInt, Default: "128", Min: 1, Max: 32768, Job: true,
		Description: "Number of key groups: the upper bound of parallelism and the unit of keyed state redistribution."},
	{Key: RestartStrategy, Type: TypeEnum, Default: "default", Job: true,
		Values:      []string{"default", "none", "fixed-delay", "exponential-delay", "failure-rate"},
		Description: "How a failed job restarts from its latest checkpoint: none fails the job on the first task failure; default is fixed-delay when checkpointing is on, else none."},
	{Key: FixedDelayAttempts, Type: TypeInt, Default: "2147483647", Min: 0, Job: true,
		Description: "fixed-delay: restarts before the job fails."},
	{Key: FixedDelayDelay, Type: TypeDuration, Default: "1s", Job: true,
		Description: "fixed-delay: wait before each restart."},
	{Key: ExponentialInitialBackoff, Type: TypeDuration, Default: "1s", Job: true,
		Description: "exponential-delay: wait before the first restart."},
	{Key: ExponentialMaxBackoff, Type: TypeDuration, Default: "1min", Job: true,
		Description: "exponential-delay: longest wait between restarts."},
	{Key: ExponentialMultiplier, Type: TypeFloat, Default: "1.5", Job: true,
		Description: "exponential-delay: factor by which the wait grows after each failure."},
	{Key: ExponentialResetThreshold, Type: TypeDuration, Default: "1h", Job: true,
		Description: "exponential-delay: a job that ran this long without failing starts again from the initial backoff."},
	{Key: ExponentialJitter, Type: TypeFloat, Default: "0.1", Job: true,
		Description: "exponential-delay: random variation of each wait, as a fraction of it."},
	{Key: FailureRateMaxFailures, Type: TypeInt, Default: "1", Min: 1, Job: true,
		Description: "failure-rate: failures within the interval after which the job fails."},
	{Key: FailureRateInterval, Type: TypeDuration, Default: "1min", Job: true,
		Description: "failure-rate: the interval failures are counted in."},
	{Key: FailureRateDelay, Type: TypeDuration, Default: "1s", Job: true,
		Description: "failure-rate: wait before each restart."},
	{Key: CheckpointingTimeout, Type: TypeDuration, Default: "10min", Job: true,
		Description: "A checkpoint not complete within this time is aborted."},
	{Key: CheckpointingMinPause, Type: TypeDuration, Default: "0", Job: true,
		Description: "Least time between the end of one checkpoint and the start of the next."},
	{Key: CheckpointingMaxConcurrent, Type: TypeInt, Default: "1", Min: 1, Job: true,
		Description: "Checkpoints in progress at once."},
	{Key: CheckpointingTolerableFailures, Type: TypeInt, Default: "0", Min: 0, Job: true,
		Description: "Consecutive failed checkpoints tolerated before the job fails (and restarts)."},
	{Key: CheckpointRetention, Type: TypeEnum, Default: "DELETE_ON_CANCELLATION", Job: true,
		Values:      []string{"DELETE_ON_CANCELLATION", "RETAIN_ON_CANCELLATION"},
		Description: "Whether a cancelled job's checkpoints are deleted or kept to resume from."},
	{Key: S3Region, Type: TypeString, Default: "",
		Description: "Region of s3:// checkpoint storage; empty uses AWS_REGION or us-east-1."},
	{Key: S3PathStyleAccess, Type: TypeBool, Default: "false",
		Description: "Address buckets by path (endpoint/bucket), as MinIO needs, rather than by host name."},
	{Key: RESTAddress, Type: TypeString, Default: "127.0.0.1:8081",
		Description: "HTTP address of the jobmanager's web UI, JSON API, /metrics and /healthz."},
	{Key: RPCMaxMessageSize, Type: TypeBytes, Default: "64mb",
		Description: "Largest gRPC message sent or received."},
	{Key: S3AccessKey, Type: TypeString, Default: "",
		Description: "Access key for s3:// checkpoint storage. Secret: set it in the environment."},
	{Key: S3Endpoint, Type: TypeString, Default: "",
		Description: "Endpoint of an S3-compatible store (e.g. MinIO) for s3:// paths; empty for AWS."},
	{Key: S3SecretKey, Type: TypeString, Default: "",
		Description: "Secret key for s3:// checkpoint storage. Secret: set it in the environment."},
	{Key: SlotRequestTimeout, Type: TypeDuration, Default: "5min",
		Description: "How long a job waits for enough free slots before it fails."},
	{Key: StateBackend, Type: TypeEnum, Default: "heap", Values: []string{"heap", "pebble"}, Job: true,
		Description: "Where working state lives: heap (Go maps) or pebble (an LSM on the taskmanager's local disk)."},
	{Key: IncrementalCheckpoints, Type: TypeBool, Default: "false", Job: true,
		Description: "Checkpoints upload only what changed since the previous checkpoint: new Pebble files, or the heap's writes as a delta (savepoints stay full)."},
	{Key: LocalRecovery, Type: TypeBool, Default: "false", Job: true,
		Description: "Keep a local copy of each snapshot so a restart on the same taskmanager skips the download."},
	{Key: PebbleLocalDir, Type: TypeString, Default: "",
		Description: "Local directory of the pebble backend's working state; empty for a temporary directory. Not checkpoint storage."},
	{Key: PebbleMemory, Type: TypeBytes, Default: "64mb", Job: true,
		Description: "Memory of the pebble backend of each keyed subtask: block cache plus memtables (iterators, snapshots and Go's own overhead come on top)."},
	{Key: CheckpointsDir, Type: TypeString, Default: "", Job: true,
		Description: "Durable checkpoint storage (file:///path or s3://bucket/prefix); empty keeps checkpoints in jobmanager memory."},
	{Key: CheckpointsRetained, Type: TypeInt, Default: "1", Min: 1, Job: true,
		Description: "Number of completed checkpoints kept."},
	{Key: SavepointsDir, Type: TypeString, Default: "", Job: true,
		Description: "Default target directory of savepoints (file:// or s3://)."},
	{Key: MetricsAddress, Type: TypeString, Default: "",
		Description: "HTTP address of a taskmanager's /metrics, /healthz and /readyz; empty serves none. The jobmanager serves them on rest.address."},
	{Key: TaskManagerSlots, Type: TypeInt, Default: "1", Min: 1,
		Description: "Number of task slots a taskmanager offers."},
	{Key: TaskManagerProcessSize, Type: TypeBytes, Default: "0",
		Description: "Memory of the whole taskmanager process; the Go runtime's soft memory limit is set to 90% of it, so the garbage collector collects harder near it rather than letting the heap grow to twice the live data. 0 uses the container's memory limit (cgroup) if there is one. A GOMEMLIMIT environment variable sets the limit itself instead; setting both is an error."},
	{Key: SSLEnabled, Type: TypeBool, Default: "false",
		Description: "TLS on every gRPC and HTTP connection: client to jobmanager, jobmanager and taskmanagers, taskmanagers to each other, the HTTP API."},
	{Key: SSLCert, Type: TypeString, Default: "",
		Description: "PEM certificate of this process; its OU is its role (jobmanager, taskmanager). Reloaded when the file changes."},
	{Key: SSLKey, Type: TypeString, Default: "",
		Description: "PEM private key of security.ssl.cert. Reloaded when the file changes."},
	{Key: SSLCA, Type: TypeString, Default: "",
		Description: "PEM certificates of the cluster CA, which peers' certificates must chain to. Reloaded when the file changes."},
	{Key: SSLClientAuth, Type: TypeEnum, Default: "none", Values: []string{"none", "required"},
		Description: "required: mutual TLS between cluster members, each RPC checked against the role in the caller's certificate; client certificates also authenticate users."},
	{Key: JobMaxGraphSize, Type: TypeBytes, Default: "4mb",
		Description: "Largest submitted job (its encoded job graph, or the program request) the jobmanager accepts; a lower rpc.max-message-size lowers it."},
	{Key: JobMaxOperators, Type: TypeInt, Default: "1000", Min: 1, Max: 100000,
		Description: "Most operators a submitted job graph may have."},
	{Key: JobMaxParallelism, Type: TypeInt, Default: "1024", Min: 1, Max: 32768,
		Description: "Highest parallelism of any operator of a submitted job (also bounded by the job's pipeline.max-parallelism)."},
	{Key: JobMaxKeyGroups, Type: TypeInt, Default: "32768", Min: 1, Max: 32768,
		Description: "Highest pipeline.max-parallelism (number of key groups) of a submitted job; 32768 is the ceiling, as in Flink."},
	{Key: CheckpointingMinInterval, Type: TypeDuration, Default: "100ms",
		Description: "Shortest execution.checkpointing.interval a job may set; a job asking for less is refused, not silently slowed down."},
	{Key: SubmissionRate, Type: TypeFloat, Default: "10",
		Description: "Job submissions per second the jobmanager accepts from one client (per token or client certificate, else all clients together); 0 turns the limit off."},
	{Key: SubmissionBurst, Type: TypeInt, Default: "20", Min: 1, Max: 100000,
		Description: "Submissions accepted at once before jobmanager.submission.rate applies (the token bucket's size)."},
	{Key: StorageAllowedPrefixes, Type: TypeString, Default: "",
		Description: "Comma-separated storage URIs (file:///dir, s3://bucket/prefix, memory://name) under which jobs may name checkpoint, savepoint and restore paths; empty allows the cluster's own state.checkpoints.dir and state.savepoints.dir only."},
	{Key: AuthTokensFile, Type: TypeString, Default: "",
		Description: "File of bearer tokens, one \"token role\" per line (admin or viewer); the job API then needs a token or a client certificate. Reloaded when the file changes. Needs security.ssl.enabled."},
}

var byKey = sync.OnceValue(func() map[string]*Option {
	m := make(map[string]*Option, len(options))
	for i := range options {
		m[options[i].Key] = &options[i]
	}
	return m
})

// Known returns every known option, sorted by key.
func Known() []Option {
	out := make([]Option, len(options))
	for i, o := range options {
		o.Values = slices.Clone(o.Values)
		out[i] = o
	}
	slices.SortFunc(out, func(a, b Option) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// Lookup returns the option of key.
func Lookup(key string) (Option, bool) {
	o, ok := byKey()[key]
	if !ok {
		return Option{}, false
	}
	c := *o
	c.Values = slices.Clone(o.Values)
	return c, true
}

// IsSecret reports whether key holds a secret, whose value is never printed.
func IsSecret(key string) bool {
	k := strings.ToLower(key)
	return strings.Contains(k, "secret") || strings.Contains(k, "password") || strings.Contains(k, "access-key")
}

// redact returns value, or ****** if key holds a secret.
func redact(key, value string) string {
	if IsSecret(key) {
		return "******"
	}
	return value
}

// EnvName returns the environment variable that sets key: WEIR_ followed by
// the key upper-cased with '.' and '-' replaced by '_'.
func EnvName(key string) string {
	r := strings.NewReplacer(".", "_", "-", "_")
	return "WEIR_" + strings.ToUpper(r.Replace(key))
}

// byEnv maps the variable of every known key back to the key.
var byEnv = sync.OnceValue(func() map[string]string {
	m := make(map[string]string, len(options))
	for _, o := range options {
		m[EnvName(o.Key)] = o.Key
	}
	return m
})

// nonConfigEnv are WEIR_ variables that are not configuration keys.
var nonConfigEnv = map[string]bool{
	"WEIR_JOBMANAGER": true, // the CLI's jobmanager address
	"WEIR_TOKEN":      true, // the CLI's bearer token
	"WEIR_TLS_CA":     true, // the CA the CLI verifies the jobmanager against
	"WEIR_TLS_CERT":   true, // the CLI's client certificate
	"WEIR_TLS_KEY":    true, // and its key
}
