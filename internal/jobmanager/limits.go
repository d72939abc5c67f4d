package jobmanager

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
	"github.com/weirstream/weir/internal/checkpoint/objstore"
	"github.com/weirstream/weir/internal/clock"
	"github.com/weirstream/weir/internal/config"
)

// Limits bound what one submission may ask of the cluster. They are the
// cluster's (jobmanager.job.*, jobmanager.checkpointing.min-interval,
// jobmanager.submission.*, security.storage.allowed-prefixes); a job cannot
// change them. A submission over a limit is refused before anything of it
// runs, so nothing else of the cluster is affected.
type Limits struct {
	MaxGraphSize          int64         // bytes of the encoded submission
	MaxOperators          int           // operators of a job graph
	MaxParallelism        int           // parallelism of any operator
	MaxKeyGroups          int           // a job's max parallelism
	MinCheckpointInterval time.Duration // floor of execution.checkpointing.interval
	SubmissionRate        float64       // submissions per second and client; 0: no limit
	SubmissionBurst       int           // submissions at once before the rate applies
	// AllowedStorage are the storage URIs under which a job may name its
	// checkpoint and savepoint directories and a savepoint to start from.
	// The cluster's own state.checkpoints.dir, state.savepoints.dir and
	// Options.DefaultCheckpointsDir are always allowed.
	AllowedStorage []string
}

// DefaultLimits returns the limits of the configuration defaults.
func DefaultLimits() Limits {
	l, err := LimitsFrom(config.Default())
	if err != nil {
		panic(err) // the registry's defaults are checked by config's tests
	}
	return l
}

// LimitsFrom reads the limits of a process's configuration.
func LimitsFrom(c *config.Config) (Limits, error) {
	var l Limits
	var errs []error
	get := func(err error) { errs = append(errs, err) }
	var err error
	l.MaxGraphSize, err = c.Bytes(config.JobMaxGraphSize)
	get(err)
	l.MaxOperators, err = c.Int(config.JobMaxOperators)
	get(err)
	l.MaxParallelism, err = c.Int(config.JobMaxParallelism)
	get(err)
	l.MaxKeyGroups, err = c.Int(config.JobMaxKeyGroups)
	get(err)
	l.MinCheckpointInterval, err = c.Duration(config.CheckpointingMinInterval)
	get(err)
	l.SubmissionRate, err = c.Float(config.SubmissionRate)
	get(err)
	l.SubmissionBurst, err = c.Int(config.SubmissionBurst)
	get(err)
	prefixes, err := c.Get(config.StorageAllowedPrefixes)
	get(err)
	if err := errors.Join(errs...); err != nil {
		return Limits{}, err
	}
	for _, p := range strings.Split(prefixes, ",") {
		if p = strings.TrimSpace(p); p != "" {
			l.AllowedStorage = append(l.AllowedStorage, p)
		}
	}
	// No submission larger than a gRPC message arrives: a lower
	// rpc.max-message-size lowers this limit with it.
	if msg, err := c.Bytes(config.RPCMaxMessageSize); err == nil && msg > 0 && l.MaxGraphSize > msg {
		l.MaxGraphSize = msg
	}
	return l, l.check()
}

func (l Limits) check() error {
	var errs []error
	if l.MaxGraphSize < 1 {
		errs = append(errs, fmt.Errorf("%s: %d must be positive", config.JobMaxGraphSize, l.MaxGraphSize))
	}
	if l.MinCheckpointInterval < 0 {
		errs = append(errs, fmt.Errorf("%s: %v must not be negative", config.CheckpointingMinInterval, l.MinCheckpointInterval))
	}
	if l.SubmissionRate < 0 || math.IsNaN(l.SubmissionRate) || math.IsInf(l.SubmissionRate, 0) {
		errs = append(errs, fmt.Errorf("%s: %v must be a finite number, at least 0 (0 turns the limit off)", config.SubmissionRate, l.SubmissionRate))
	}
	for _, p := range l.AllowedStorage {
		if _, err := objstore.ParseLocation(p); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", config.StorageAllowedPrefixes, err))
		}
	}
	return errors.Join(errs...)
}

// limitError is the refusal of a submission over a limit: InvalidArgument
// naming the field, its value and the limit with its option.
func limitError(field string, value any, limit any, option string) error {
	return status.Errorf(codes.InvalidArgument, "rejected: %s: %v exceeds the limit %v (%s)", field, value, limit, option)
}

// checkSize refuses a submission whose encoding is larger than the limit,
// before it is built or planned.
func (l Limits) checkSize(req *weirv1.SubmitJobRequest) error {
	if n := proto.Size(req); int64(n) > l.MaxGraphSize {
		return limitError("job", fmt.Sprintf("%d bytes", n), fmt.Sprintf("%d bytes", l.MaxGraphSize), config.JobMaxGraphSize)
	}
	return nil
}

// checkGraph refuses a job graph with more operators, parallelism or key
// groups than the limits allow.
func (l Limits) checkGraph(g *weirv1.JobGraph) error {
	if n := len(g.GetOperators()); n > l.MaxOperators {
		return limitError("operators", fmt.Sprintf("%d operators", n), l.MaxOperators, config.JobMaxOperators)
	}
	if mp := int(g.GetMaxParallelism()); mp > l.MaxKeyGroups {
		return limitError("max_parallelism", mp, l.MaxKeyGroups, config.JobMaxKeyGroups)
	}
	for i, op := range g.GetOperators() {
		if p := int(op.GetParallelism()); p > l.MaxParallelism {
			return limitError(fmt.Sprintf("operators[%d] (%q).parallelism", i, op.GetName()), p, l.MaxParallelism, config.JobMaxParallelism)
		}
	}
	return nil
}

// checkInterval refuses a checkpoint interval below the floor. 0 (no
// checkpoints) is not an interval.
func (l Limits) checkInterval(cfg *config.Config) error {
	d, err := cfg.Duration(config.CheckpointingInterval)
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "rejected: config: %v", err)
	}
	if d > 0 && d < l.MinCheckpointInterval {
		return status.Errorf(codes.InvalidArgument, "rejected: config: %s: %v is below the cluster's floor of %v (%s)",
			config.CheckpointingInterval, d, l.MinCheckpointInterval, config.CheckpointingMinInterval)
	}
	return nil
}

// storageConfinement keeps the storage locations jobs name under the
// allowed prefixes.
type storageConfinement struct {
	allowed []objstore.Location
}

// newStorageConfinement allows l.AllowedStorage and the cluster's own
// storage locations. A location that does not parse allows nothing (a job
// using it fails when its store is opened); the error names it.
func newStorageConfinement(l Limits, own ...string) (storageConfinement, error) {
	var c storageConfinement
	var errs []error
	for _, p := range slices.Concat(l.AllowedStorage, own) {
		if p == "" {
			continue
		}
		loc, err := objstore.ParseLocation(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.allowed = append(c.allowed, loc)
	}
	return c, errors.Join(errs...)
}

// check refuses uri, named by field, unless it lies under an allowed
// prefix: PermissionDenied for a well-formed location elsewhere,
// InvalidArgument for one that is malformed or has "." or ".." segments.
func (c storageConfinement) check(field, uri string) error {
	err := objstore.Confine(uri, c.allowed)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, objstore.ErrOutsidePrefixes):
		return status.Errorf(codes.PermissionDenied, "rejected: %s: %v", field, err)
	default:
		return status.Errorf(codes.InvalidArgument, "rejected: %s: %v", field, err)
	}
}

// rateLimiter is a token bucket per client identity: each holds up to burst
// tokens and gains rate tokens per second; a submission takes one.
type rateLimiter struct {
	rate  float64
	burst float64
	clock clock.Clock
	mu    struct {
		sync.Mutex
		buckets map[string]*bucket
	}
}

type bucket struct {
	tokens float64
	at     time.Time
}

// maxBuckets bounds the clients tracked at once; full buckets are dropped
// first, as they hold nothing a new bucket would not.
const maxBuckets = 4096

func newRateLimiter(rate float64, burst int, c clock.Clock) *rateLimiter {
	if rate <= 0 {
		return nil
	}
	r := &rateLimiter{rate: rate, burst: float64(max(burst, 1)), clock: c}
	r.mu.buckets = map[string]*bucket{}
	return r
}

// take takes a token of who's bucket. When there is none it returns false
// and the time until there is one. A nil limiter allows everything.
func (r *rateLimiter) take(who string) (bool, time.Duration) {
	if r == nil {
		return true, 0
	}
	now := r.clock.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.mu.buckets[who]
	if !ok {
		if len(r.mu.buckets) >= maxBuckets {
			r.pruneLocked(now)
		}
		b = &bucket{tokens: r.burst, at: now}
		r.mu.buckets[who] = b
	}
	r.refill(b, now)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	// Whole milliseconds, rounded up (less a rounding error's worth).
	ms := math.Ceil((1-b.tokens)/r.rate*1000 - 1e-6)
	return false, time.Duration(ms) * time.Millisecond
}

func (r *rateLimiter) refill(b *bucket, now time.Time) {
	if el := now.Sub(b.at); el > 0 {
		b.tokens = math.Min(r.burst, b.tokens+el.Seconds()*r.rate)
		b.at = now
	}
}

// pruneLocked drops full buckets; if that is not half of them, arbitrary
// ones go too (their clients start again with a full bucket): memory stays
// bounded however many identities call.
func (r *rateLimiter) pruneLocked(now time.Time) {
	for k, b := range r.mu.buckets {
		r.refill(b, now)
		if b.tokens >= r.burst {
			delete(r.mu.buckets, k)
		}
	}
	for k := range r.mu.buckets {
		if len(r.mu.buckets) < maxBuckets/2 {
			return
		}
		delete(r.mu.buckets, k)
	}
}

// rateLimited is the refusal of a submission over the rate limit.
func rateLimited(who string, rate float64, burst int, wait time.Duration) error {
	client := "all clients together"
	if who != "" {
		client = "client " + who
	}
	return status.Errorf(codes.ResourceExhausted,
		"rejected: too many submissions from %s: the limit is %g per second with bursts of %d (%s, %s); retry in %v",
		client, rate, burst, config.SubmissionRate, config.SubmissionBurst, wait.Round(time.Millisecond))
}
