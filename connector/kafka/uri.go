package kafka

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Scheme is the URI scheme of ParseSource and ParseSink.
const Scheme = "kafka"

// ParseSource returns the Source a URI names, for programs that take their
// input as a URI:
//
//	kafka://HOST:PORT[,HOST:PORT...]/TOPIC[?PARAM=VALUE&...]
//
// The parameters are the Source's JSON fields: group, start_from,
// isolation, max_wait, fetch_bytes, stop_at_latest (true or false),
// format, on_error and dead_letter_topic.
// The Source is validated.
func ParseSource(uri string) (Source, error) {
	brokers, topic, q, err := parseURI(uri)
	if err != nil {
		return Source{}, err
	}
	s := Source{Brokers: brokers, Topic: topic}
	for _, k := range slices.Sorted(maps.Keys(q)) {
		v := q.Get(k)
		switch k {
		case "group":
			s.Group = v
		case "start_from":
			s.StartFrom = v
		case "isolation":
			s.Isolation = v
		case "max_wait":
			s.MaxWait = v
		case "fetch_bytes":
			s.FetchBytes, err = strconv.Atoi(v)
		case "stop_at_latest":
			s.StopAtLatest, err = strconv.ParseBool(v)
		case "format":
			s.Format = v
		case "on_error":
			s.OnError = v
		case "dead_letter_topic":
			s.DeadLetterTopic = v
		default:
			return Source{}, fmt.Errorf("kafka source: URI %q: unknown parameter %q", uri, k)
		}
		if err != nil {
			return Source{}, fmt.Errorf("kafka source: URI %q: parameter %s: %w", uri, k, err)
		}
	}
	return s, s.Validate()
}

// ParseSink returns the Sink a URI names, for programs that take their
// output as a URI:
//
//	kafka://HOST:PORT[,HOST:PORT...]/TOPIC[?PARAM=VALUE&...]
//
// The parameters are the Sink's JSON fields: semantic,
// transactional_id_prefix, transaction_timeout and batch_bytes. The Sink
// is validated.
func ParseSink(uri string) (Sink, error) {
	brokers, topic, q, err := parseURI(uri)
	if err != nil {
		return Sink{}, err
	}
	s := Sink{Brokers: brokers, Topic: topic}
	for _, k := range slices.Sorted(maps.Keys(q)) {
		v := q.Get(k)
		switch k {
		case "semantic":
			s.Semantic = v
		case "transactional_id_prefix":
			s.TransactionalIDPrefix = v
		case "transaction_timeout":
			s.TransactionTimeout = v
		case "batch_bytes":
			s.BatchBytes, err = strconv.Atoi(v)
		default:
			return Sink{}, fmt.Errorf("kafka sink: URI %q: unknown parameter %q", uri, k)
		}
		if err != nil {
			return Sink{}, fmt.Errorf("kafka sink: URI %q: parameter %s: %w", uri, k, err)
		}
	}
	return s, s.Validate()
}

// parseURI splits kafka://BROKERS/TOPIC?QUERY.
func parseURI(uri string) (brokers []string, topic string, q url.Values, err error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, "", nil, fmt.Errorf("kafka: URI %q: %w", uri, err)
	}
	topic = strings.TrimPrefix(u.Path, "/")
	switch {
	case u.Scheme != Scheme:
		return nil, "", nil, fmt.Errorf("kafka: URI %q: scheme %q, want %q", uri, u.Scheme, Scheme)
	case u.Host == "":
		return nil, "", nil, fmt.Errorf("kafka: URI %q: no brokers; want %s://HOST:PORT[,HOST:PORT...]/TOPIC", uri, Scheme)
	case topic == "" || strings.Contains(topic, "/"):
		return nil, "", nil, fmt.Errorf("kafka: URI %q: want one topic after the brokers, %s://HOST:PORT/TOPIC", uri, Scheme)
	case u.User != nil || u.Fragment != "":
		// Redacted: the error is logged and shown, and must not carry a password.
		return nil, "", nil, fmt.Errorf("kafka: URI %q: user information and fragments are not supported", u.Redacted())
	}
	q, err = url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, "", nil, fmt.Errorf("kafka: URI %q: %w", uri, err)
	}
	for k, vs := range q {
		if len(vs) > 1 {
			return nil, "", nil, fmt.Errorf("kafka: URI %q: parameter %q given %d times", uri, k, len(vs))
		}
	}
	return strings.Split(u.Host, ","), topic, q, nil
}
