package generator

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/weirstream/weir/connector/internal/pace"
	"github.com/weirstream/weir/stream"
)

// DefaultWords is the vocabulary size of a Source whose Words is 0.
const DefaultWords = 1000

// maxBatch bounds the records one PollNext emits.
const maxBatch = 2048

func init() { stream.RegisterSource[string]("weir.generator", Source{}) }

// Source generates text lines. Its fields are the job parameters.
type Source struct {
	// Count is the number of records across all subtasks; 0 is unbounded.
	Count int64 `json:"count,omitempty"`
	// Rate is the records per second across all subtasks; 0 is unthrottled.
	Rate float64 `json:"rate,omitempty"`
	// Seed selects the sequence of lines.
	Seed int64 `json:"seed,omitempty"`
	// Words is the vocabulary size; 0 means DefaultWords.
	Words int `json:"words,omitempty"`
}

var (
	_ stream.Checkpointed         = (*reader)(nil)
	_ stream.Source[string]       = Source{}
	_ stream.Validator            = Source{}
	_ stream.SourceReader[string] = (*reader)(nil)
)

// Validate checks the parameters.
func (s Source) Validate() error {
	switch {
	case s.Count < 0:
		return fmt.Errorf("generator: count %d must be >= 0", s.Count)
	case math.IsNaN(s.Rate) || math.IsInf(s.Rate, 0):
		return fmt.Errorf("generator: rate %v must be a finite number", s.Rate)
	case s.Rate < 0:
		return fmt.Errorf("generator: rate %v must be >= 0", s.Rate)
	case s.Words < 0:
		return fmt.Errorf("generator: words %d must be >= 0", s.Words)
	}
	return nil
}

// CreateReader returns the reader of subtask ctx.SubtaskIndex.
func (s Source) CreateReader(ctx *stream.SourceContext) (stream.SourceReader[string], error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	p := max(ctx.Parallelism, 1)
	if ctx.SubtaskIndex < 0 || ctx.SubtaskIndex >= p {
		return nil, fmt.Errorf("generator: subtask %d out of range for parallelism %d", ctx.SubtaskIndex, p)
	}
	r := &reader{
		src:   s,
		words: s.Words,
		next:  int64(ctx.SubtaskIndex),
		step:  int64(p),
		idle:  make(chan struct{}),
	}
	if r.words == 0 {
		r.words = DefaultWords
	}
	if s.Rate > 0 {
		if ctx.Clock == nil {
			return nil, fmt.Errorf("generator: rate %v needs a clock in the task info", s.Rate)
		}
		r.pacer = pace.New(ctx.Clock, s.Rate)
	}
	return r, nil
}

// reader is one subtask's generator. Only the task goroutine uses it.
type reader struct {
	src   Source
	words int
	next  int64 // index of the next record to emit
	step  int64 // the parallelism
	base  int64 // index the pacer counts from: 0, or where a restore resumed
	buf   []byte
	pacer *pace.Pacer   // nil if unthrottled
	idle  chan struct{} // Available of an unthrottled reader, never ready
}

func (r *reader) PollNext(out stream.Collector[string]) (stream.PollStatus, error) {
	var now time.Time
	if r.pacer != nil {
		now = r.pacer.Now()
	}
	for range maxBatch {
		if r.src.Count > 0 && r.next >= r.src.Count {
			return stream.PollEnd, nil
		}
		// Record k is due k/Rate seconds after the start, on every
		// subtask, so the subtasks together emit Rate records a second.
		if r.pacer != nil && !r.pacer.Ready(r.next-r.base, now) {
			return stream.PollIdle, nil
		}
		r.buf = appendLine(r.buf[:0], r.src.Seed, r.words, r.next)
		out.Collect(string(r.buf))
		r.next += r.step
	}
	if r.src.Count > 0 && r.next >= r.src.Count {
		return stream.PollEnd, nil
	}
	return stream.PollMore, nil
}

func (r *reader) Available() <-chan struct{} {
	if r.pacer != nil {
		return r.pacer.Available()
	}
	return r.idle
}

// SnapshotState saves the index of the next record.
func (r *reader) SnapshotState(int64) ([][]byte, error) {
	return [][]byte{binary.AppendUvarint(nil, uint64(r.next))}, nil
}

// RestoreState resumes at the saved index. The generator's partitioning
// depends on the parallelism, so it resumes only at the parallelism it was
// saved at.
func (r *reader) RestoreState(elems [][]byte) error {
	if len(elems) != 1 {
		return fmt.Errorf("generator: restoring %d state elements, want 1 (resuming at another parallelism is not supported)", len(elems))
	}
	next, n := binary.Uvarint(elems[0])
	if n <= 0 || int64(next)%r.step != r.next%r.step {
		return fmt.Errorf("generator: corrupt or foreign state for subtask %d of %d", r.next, r.step)
	}
	r.next, r.base = int64(next), int64(next)
	if r.pacer != nil {
		r.pacer = pace.New(r.pacer.Clock(), r.src.Rate)
	}
	return nil
}

// Close stops the pacer's timers.
func (r *reader) Close() error {
	if r.pacer != nil {
		r.pacer.Close()
	}
	return nil
}

// Line returns record index of a generator with the given seed and
// vocabulary size (words <= 0 means DefaultWords): two to six words
// separated by single spaces.
func Line(seed int64, words int, index int64) string {
	if words <= 0 {
		words = DefaultWords
	}
	return string(appendLine(nil, seed, words, index))
}

const golden = 0x9e3779b97f4a7c15

func appendLine(dst []byte, seed int64, words int, index int64) []byte {
	h := mix(uint64(seed) ^ mix(uint64(index)+golden))
	n := 2 + int(h%5)
	for i := range n {
		if i > 0 {
			dst = append(dst, ' ')
		}
		h = mix(h + golden)
		dst = appendWord(dst, h%uint64(words))
	}
	return dst
}

// Word j of the vocabulary is made of two-letter syllables, one per base-16
// digit of j, so distinct j give distinct words.
var syllables = [16]string{"ka", "lo", "mi", "nu", "pe", "ra", "si", "to", "vu", "we", "ya", "zo", "be", "di", "fa", "go"}

func appendWord(dst []byte, j uint64) []byte {
	var digits [16]byte
	n := 0
	for {
		digits[n] = byte(j & 15)
		n++
		j >>= 4
		if j == 0 {
			break
		}
	}
	for i := n - 1; i >= 0; i-- {
		dst = append(dst, syllables[digits[i]]...)
	}
	return dst
}

// mix is the splitmix64 finaliser.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
