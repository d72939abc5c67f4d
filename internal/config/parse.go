package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

var durationUnits = map[string]time.Duration{
	"":   time.Millisecond, // Flink: a bare number is milliseconds
	"ns": time.Nanosecond, "nano": time.Nanosecond, "nanos": time.Nanosecond, "nanosecond": time.Nanosecond, "nanoseconds": time.Nanosecond,
	"us": time.Microsecond, "µs": time.Microsecond, "micro": time.Microsecond, "micros": time.Microsecond, "microsecond": time.Microsecond, "microseconds": time.Microsecond,
	"ms": time.Millisecond, "milli": time.Millisecond, "millis": time.Millisecond, "millisecond": time.Millisecond, "milliseconds": time.Millisecond,
	"s": time.Second, "sec": time.Second, "secs": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "mins": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
}

var errDurationSyntax = errors.New(`want a duration such as "10 s", "500 ms", "1 min" or plain milliseconds`)

// ParseDuration parses a duration in Flink's format: an integer and a unit
// (ns, us, ms, s, min, h, d and their long forms), with or without a space
// between; a bare integer is milliseconds. Go durations ("1m30s", "1.5s")
// are accepted too. Negative durations are not.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	num, unit := splitNumber(s)
	if num != "" {
		mult, ok := durationUnits[strings.ToLower(unit)]
		if ok {
			n, err := strconv.ParseInt(num, 10, 64)
			if err != nil || n > math.MaxInt64/int64(mult) {
				return 0, errors.New("duration out of range")
			}
			return time.Duration(n) * mult, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errDurationSyntax
	}
	if d < 0 {
		return 0, errors.New("duration is negative")
	}
	return d, nil
}

var byteUnits = map[string]int64{
	"": 1, "b": 1, "bytes": 1,
	"k": 1 << 10, "kb": 1 << 10, "kibibytes": 1 << 10,
	"m": 1 << 20, "mb": 1 << 20, "mebibytes": 1 << 20,
	"g": 1 << 30, "gb": 1 << 30, "gibibytes": 1 << 30,
	"t": 1 << 40, "tb": 1 << 40, "tebibytes": 1 << 40,
}

// ParseBytes parses a size in Flink's format: an integer and a binary unit
// (b, k/kb, m/mb, g/gb, t/tb, case-insensitive), with or without a space
// between; a bare integer is bytes. "64 mb" and "128m" are 64 and 128 MiB.
func ParseBytes(s string) (int64, error) {
	num, unit := splitNumber(strings.TrimSpace(s))
	mult, ok := byteUnits[strings.ToLower(unit)]
	if num == "" || !ok {
		return 0, errors.New(`want a size such as "64 mb", "128m", "1g" or plain bytes`)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, errors.New("size out of range")
	}
	return n * mult, nil
}

// splitNumber splits s into its leading decimal digits and the rest,
// trimmed of spaces.
func splitNumber(s string) (num, rest string) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i], strings.TrimSpace(s[i:])
}

// parseValue checks value against o and returns its canonical text:
// trimmed, and for enumerations the registered spelling.
func parseValue(o *Option, value string) (string, error) {
	v := strings.TrimSpace(value)
	var err error
	switch o.Type {
	case TypeString:
	case TypeDuration:
		_, err = ParseDuration(v)
	case TypeInt:
		_, err = parseInt(o, v)
	case TypeBool:
		_, err = parseBool(v)
	case TypeBytes:
		_, err = ParseBytes(v)
	case TypeFloat:
		_, err = parseFloat(v)
	case TypeEnum:
		for _, allowed := range o.Values {
			if strings.EqualFold(v, allowed) {
				return allowed, nil
			}
		}
		err = fmt.Errorf("want one of %s", strings.Join(o.Values, ", "))
	default:
		err = fmt.Errorf("option has no type")
	}
	if err != nil {
		return "", err
	}
	return v, nil
}

func parseInt(o *Option, v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, errors.New("want an integer")
	}
	if n < o.Min || (o.Max != 0 && n > o.Max) {
		if o.Max != 0 {
			return 0, fmt.Errorf("want an integer in %d..%d", o.Min, o.Max)
		}
		return 0, fmt.Errorf("want an integer of at least %d", o.Min)
	}
	return n, nil
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errors.New("want true or false")
}

func parseFloat(v string) (float64, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, errors.New("want a finite number")
	}
	return f, nil
}
