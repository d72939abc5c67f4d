package kafka

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// The values of Source.Format.
const (
	// FormatRaw reads every value as it is: it never fails.
	FormatRaw = "raw"
	// FormatText reads values that are UTF-8 text.
	FormatText = "text"
	// FormatJSON reads values that are one JSON value each.
	FormatJSON = "json"
)

// The values of Source.OnError.
const (
	// OnErrorFail fails the job, without restarts: a restart would read
	// the same record again.
	OnErrorFail = "fail"
	// OnErrorSkip drops the record and counts it.
	OnErrorSkip = "skip"
	// OnErrorDeadLetter writes the record to Source.DeadLetterTopic, with
	// its origin and the error in headers, and counts it.
	OnErrorDeadLetter = "dead-letter"
)

// The headers of a dead-letter record. Its key and value are the bad
// record's, and its timestamp.
const (
	HeaderSourceTopic     = "weir.source.topic"
	HeaderSourcePartition = "weir.source.partition"
	HeaderSourceOffset    = "weir.source.offset"
	HeaderError           = "weir.error"
)

// The counters of a source subtask (stream.MetricGroup), reported with
// the task's metrics.
const (
	CounterSkipped      = "kafka_records_skipped"
	CounterDeadLettered = "kafka_records_dead_lettered"
)

// format is a parsed Source.Format.
type format int

const (
	formatRaw format = iota
	formatText
	formatJSON
)

func parseFormat(s string) (format, error) {
	switch s {
	case "", FormatRaw:
		return formatRaw, nil
	case FormatText:
		return formatText, nil
	case FormatJSON:
		return formatJSON, nil
	}
	return 0, fmt.Errorf("kafka source: format %q: want %q, %q or %q", s, FormatRaw, FormatText, FormatJSON)
}

func (f format) String() string {
	switch f {
	case formatText:
		return FormatText
	case formatJSON:
		return FormatJSON
	}
	return FormatRaw
}

// check returns why value b is not of format f, or "" if it is. The
// reason names positions, never the value's bytes: payloads stay out of
// errors and logs.
func (f format) check(b []byte) string {
	switch f {
	case formatText:
		if utf8.Valid(b) {
			return ""
		}
		i := 0
		for i < len(b) {
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			i += n
		}
		return "the value is not UTF-8 text: invalid byte at offset " + strconv.Itoa(i)
	case formatJSON:
		if json.Valid(b) {
			return ""
		}
		var v json.RawMessage
		err := json.Unmarshal(b, &v)
		if se := (*json.SyntaxError)(nil); errors.As(err, &se) {
			return "the value is not JSON: syntax error at byte offset " + strconv.FormatInt(se.Offset, 10)
		}
		return "the value is not JSON"
	}
	return ""
}

// badRecord is a record whose value is not of the source's format.
type badRecord struct {
	offset    int64
	timestamp int64 // unix millis
	key       []byte
	value     []byte
	reason    string
}
