package kafka

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseURI(t *testing.T) {
	src, err := ParseSource("kafka://a:9092,b:9093/lines?group=g&start_from=latest&stop_at_latest=true&max_wait=10ms&fetch_bytes=4096&isolation=read_uncommitted")
	if err != nil {
		t.Fatal(err)
	}
	want := Source{Brokers: []string{"a:9092", "b:9093"}, Topic: "lines", Group: "g", StartFrom: "latest",
		StopAtLatest: true, MaxWait: "10ms", FetchBytes: 4096, Isolation: "read_uncommitted"}
	if !reflect.DeepEqual(src, want) {
		t.Errorf("source: got %+v, want %+v", src, want)
	}
	src, err = ParseSource("kafka://a:9092/events?format=json&on_error=dead-letter&dead_letter_topic=events-dlq")
	if err != nil {
		t.Fatal(err)
	}
	if want := (Source{Brokers: []string{"a:9092"}, Topic: "events", Format: "json", OnError: "dead-letter", DeadLetterTopic: "events-dlq"}); !reflect.DeepEqual(src, want) {
		t.Errorf("source: got %+v, want %+v", src, want)
	}
	sink, err := ParseSink("kafka://a:9092/counts?semantic=exactly-once&transactional_id_prefix=wc&transaction_timeout=1m&batch_bytes=65536")
	if err != nil {
		t.Fatal(err)
	}
	wantSink := Sink{Brokers: []string{"a:9092"}, Topic: "counts", Semantic: "exactly-once", TransactionalIDPrefix: "wc",
		TransactionTimeout: "1m", BatchBytes: 65536}
	if !reflect.DeepEqual(sink, wantSink) {
		t.Errorf("sink: got %+v, want %+v", sink, wantSink)
	}
	for uri, want := range map[string]string{
		"file:///tmp/x":                        `scheme "file"`,
		"kafka:///t":                           "no brokers",
		"kafka://a:1":                          "one topic",
		"kafka://a:1/t/u":                      "one topic",
		"kafka://a:1/t?colour=red":             `unknown parameter "colour"`,
		"kafka://a:1/t?group=a&group=b":        `"group" given 2 times`,
		"kafka://a:1/t?stop_at_latest=perhaps": "stop_at_latest",
		"kafka://a:1/t?start_from=never":       `start_from "never"`,
		"kafka://,a:1/t":                       "brokers[0]",
		"kafka://a:1/t?format=xml":             `format "xml"`,
		"kafka://a:1/t?on_error=dead-letter":   "needs a dead_letter_topic",
	} {
		if _, err := ParseSource(uri); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSource(%q): got %v, want an error with %q", uri, err, want)
		}
	}
	if _, err := ParseSink("kafka://a:1/t?semantic=twice"); err == nil || !strings.Contains(err.Error(), `semantic "twice"`) {
		t.Errorf("ParseSink with a bad semantic: %v", err)
	}
}
