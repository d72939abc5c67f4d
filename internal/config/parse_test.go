package config

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{in: "10 s", want: 10 * time.Second},
		{in: "10s", want: 10 * time.Second},
		{in: " 10 S ", want: 10 * time.Second},
		{in: "500 ms", want: 500 * time.Millisecond},
		{in: "500ms", want: 500 * time.Millisecond},
		{in: "1 min", want: time.Minute},
		{in: "5min", want: 5 * time.Minute},
		{in: "2 minutes", want: 2 * time.Minute},
		{in: "1m", want: time.Minute},
		{in: "3 h", want: 3 * time.Hour},
		{in: "1 d", want: 24 * time.Hour},
		{in: "7 days", want: 7 * 24 * time.Hour},
		{in: "250 us", want: 250 * time.Microsecond},
		{in: "100 ns", want: 100 * time.Nanosecond},
		{in: "10000", want: 10 * time.Second},
		{in: "0", want: 0},
		{in: "1m30s", want: 90 * time.Second},
		{in: "1.5s", want: 1500 * time.Millisecond},
		{in: "", err: `want a duration such as "10 s", "500 ms", "1 min" or plain milliseconds`},
		{in: "ten seconds", err: `want a duration such as "10 s", "500 ms", "1 min" or plain milliseconds`},
		{in: "10 fortnights", err: `want a duration such as "10 s", "500 ms", "1 min" or plain milliseconds`},
		{in: "-5s", err: "duration is negative"},
		{in: "99999999999999999 d", err: "duration out of range"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseDuration(tc.in)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("ParseDuration(%q) = %v, %v; want error %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestParseBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  string
	}{
		{in: "64 mb", want: 64 << 20},
		{in: "128m", want: 128 << 20},
		{in: "128M", want: 128 << 20},
		{in: "1g", want: 1 << 30},
		{in: "1 GB", want: 1 << 30},
		{in: "512 kb", want: 512 << 10},
		{in: "2t", want: 2 << 40},
		{in: "4096", want: 4096},
		{in: "10 b", want: 10},
		{in: "3 mebibytes", want: 3 << 20},
		{in: "", err: `want a size such as "64 mb", "128m", "1g" or plain bytes`},
		{in: "1.5 mb", err: `want a size such as "64 mb", "128m", "1g" or plain bytes`},
		{in: "64 mib", err: `want a size such as "64 mb", "128m", "1g" or plain bytes`},
		{in: "-1", err: `want a size such as "64 mb", "128m", "1g" or plain bytes`},
		{in: "99999999999 tb", err: "size out of range"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseBytes(tc.in)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("ParseBytes(%q) = %v, %v; want error %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseBytes(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}
