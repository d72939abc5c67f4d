package config

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

var (
	// ErrUnknownKey is wrapped by errors about keys not in the registry.
	ErrUnknownKey = errors.New("unknown configuration key")
	// ErrInvalidValue is wrapped by errors about values that do not parse
	// as their key's type.
	ErrInvalidValue = errors.New("invalid value")
	// ErrSecretOnCommandLine is wrapped by errors about secrets given as -D
	// properties, which every user of the machine can read from the
	// process list.
	ErrSecretOnCommandLine = errors.New("is a secret: set it in the environment (WEIR_...) or the configuration file, not on the command line")
	// ErrNotPerJob is wrapped by errors about cluster-wide keys set per job.
	ErrNotPerJob = errors.New("is a cluster setting and cannot be set per job")
)

// Config is a set of configuration values: every known key with its
// effective value. A Config is immutable and safe for concurrent use;
// With and WithJob return new ones.
type Config struct {
	values map[string]string
}

// Default returns the configuration with every key at its default.
func Default() *Config {
	c := &Config{values: make(map[string]string, len(options))}
	for _, o := range options {
		c.values[o.Key] = o.Default
	}
	return c
}

// With returns c overridden by m. Every key must be known and every value
// valid; the error names the first offending key (in sorted order).
func (c *Config) With(m map[string]string) (*Config, error) {
	return c.with(m, false)
}

// WithJob returns c overridden by a job's settings m. Besides what With
// checks, every key must be one a job may set (Option.Job).
func (c *Config) WithJob(m map[string]string) (*Config, error) {
	return c.with(m, true)
}

func (c *Config) with(m map[string]string, job bool) (*Config, error) {
	n := &Config{values: maps.Clone(c.values)}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if err := n.set(k, m[k], job); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// set validates and stores one value. Only a Config under construction is
// set.
func (c *Config) set(key, value string, job bool) error {
	o, err := option(key)
	if err != nil {
		return err
	}
	if job && !o.Job {
		return fmt.Errorf("%s %w", key, ErrNotPerJob)
	}
	v, err := parseValue(o, value)
	if err != nil {
		return valueError(key, value, err)
	}
	c.values[key] = v
	return nil
}

// option returns the registered option of key, or an error that names key
// and the nearest known key.
func option(key string) (*Option, error) {
	if o, ok := byKey()[key]; ok {
		return o, nil
	}
	keys := make([]string, len(options))
	for i, o := range options {
		keys[i] = o.Key
	}
	if s, ok := nearest(key, keys); ok {
		return nil, fmt.Errorf("%s: %w (did you mean %s?)", key, ErrUnknownKey, s)
	}
	return nil, fmt.Errorf("%s: %w", key, ErrUnknownKey)
}

// typed returns the value of key, which must be an option of type t.
func (c *Config) typed(key string, t Type) (*Option, string, error) {
	o, err := option(key)
	if err != nil {
		return nil, "", err
	}
	if o.Type != t {
		return nil, "", fmt.Errorf("%s: has type %s, not %s", key, o.Type, t)
	}
	return o, c.values[key], nil
}

func valueError(key, value string, err error) error {
	return fmt.Errorf("%s: %w %q: %v", key, ErrInvalidValue, redact(key, value), err)
}

// Get returns the value of key as text, whatever its type. (String is the
// fmt.Stringer, which prints the whole configuration with secrets hidden.)
func (c *Config) Get(key string) (string, error) {
	if _, err := option(key); err != nil {
		return "", err
	}
	return c.values[key], nil
}

// Duration returns the value of a duration key.
func (c *Config) Duration(key string) (time.Duration, error) {
	_, v, err := c.typed(key, TypeDuration)
	if err != nil {
		return 0, err
	}
	d, err := ParseDuration(v)
	if err != nil {
		return 0, valueError(key, v, err)
	}
	return d, nil
}

// Int returns the value of an integer key.
func (c *Config) Int(key string) (int, error) {
	o, v, err := c.typed(key, TypeInt)
	if err != nil {
		return 0, err
	}
	n, err := parseInt(o, v)
	if err == nil && n != int64(int(n)) {
		err = errors.New("integer out of range")
	}
	if err != nil {
		return 0, valueError(key, v, err)
	}
	return int(n), nil
}

// Float returns the value of a number key.
func (c *Config) Float(key string) (float64, error) {
	_, v, err := c.typed(key, TypeFloat)
	if err != nil {
		return 0, err
	}
	f, err := parseFloat(v)
	if err != nil {
		return 0, valueError(key, v, err)
	}
	return f, nil
}

// Bool returns the value of a boolean key.
func (c *Config) Bool(key string) (bool, error) {
	_, v, err := c.typed(key, TypeBool)
	if err != nil {
		return false, err
	}
	b, err := parseBool(v)
	if err != nil {
		return false, valueError(key, v, err)
	}
	return b, nil
}

// Bytes returns the value of a size key, in bytes.
func (c *Config) Bytes(key string) (int64, error) {
	_, v, err := c.typed(key, TypeBytes)
	if err != nil {
		return 0, err
	}
	n, err := ParseBytes(v)
	if err != nil {
		return 0, valueError(key, v, err)
	}
	return n, nil
}

// Map returns every key with its value, secrets included: for handing the
// configuration to another process, never for printing.
func (c *Config) Map() map[string]string {
	return maps.Clone(c.values)
}

// Redacted returns every key with its value, secrets replaced by ******.
func (c *Config) Redacted() map[string]string {
	m := make(map[string]string, len(c.values))
	for k, v := range c.values {
		m[k] = redact(k, v)
	}
	return m
}

// String prints the configuration as YAML, one key per line, sorted, with
// secrets replaced by ******.
func (c *Config) String() string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(c.values)) {
		v := redact(k, c.values[k])
		if v == "" || strings.TrimSpace(v) != v || strings.ContainsAny(v, ":#'\"{}[],&*!|>%@`") {
			v = strconv.Quote(v)
		}
		fmt.Fprintf(&b, "%s: %s\n", k, v)
	}
	return b.String()
}

// LogValue logs the configuration as a group of keys, secrets replaced by
// ******.
func (c *Config) LogValue() slog.Value {
	attrs := make([]slog.Attr, 0, len(c.values))
	for _, k := range slices.Sorted(maps.Keys(c.values)) {
		attrs = append(attrs, slog.String(k, redact(k, c.values[k])))
	}
	return slog.GroupValue(attrs...)
}

var _ slog.LogValuer = (*Config)(nil)
var _ fmt.Stringer = (*Config)(nil)
