package config

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
)

// DefaultFile is the conventional name of the configuration file.
const DefaultFile = "weir.yaml"

// Sources are the layers a process reads its configuration from, lowest
// precedence first (after the defaults).
type Sources struct {
	// File is the path of a YAML file such as weir.yaml; empty for none.
	// A named file that does not exist is an error.
	File string
	// Environ is the environment in os.Environ form ("NAME=value"). Only
	// WEIR_ variables are read (see EnvName).
	Environ []string
	// Dynamic are -D properties, each "key=value"; a later one overrides an
	// earlier one.
	Dynamic []string
}

// Load returns the defaults overridden by s.File, then s.Environ, then
// s.Dynamic. The error names the layer and the key or variable.
func Load(s Sources) (*Config, error) {
	c := Default()
	if s.File != "" {
		data, err := os.ReadFile(s.File)
		if err != nil {
			return nil, fmt.Errorf("reading configuration: %w", err)
		}
		m, err := ParseYAML(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.File, err)
		}
		if c, err = c.With(m); err != nil {
			return nil, fmt.Errorf("%s: %w", s.File, err)
		}
	}
	env, err := fromEnv(s.Environ)
	if err != nil {
		return nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(env)) {
		if err := c.set(byEnv()[name], env[name], false); err != nil {
			return nil, fmt.Errorf("environment variable %s: %w", name, err)
		}
	}
	m, err := ParseDynamic(s.Dynamic)
	if err != nil {
		return nil, err
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if IsSecret(k) {
			return nil, fmt.Errorf("-D %s: %w", k, ErrSecretOnCommandLine)
		}
	}
	if c, err = c.With(m); err != nil {
		return nil, fmt.Errorf("-D %w", err)
	}
	return c, nil
}

// fromEnv returns the WEIR_ variables of environ that name known keys, by
// variable name. Any other WEIR_ variable is an error.
func fromEnv(environ []string) (map[string]string, error) {
	out := map[string]string{}
	var unknown []string
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "WEIR_") || nonConfigEnv[name] {
			continue
		}
		if _, ok := byEnv()[name]; !ok {
			unknown = append(unknown, name)
			continue
		}
		out[name] = value
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		name := unknown[0]
		names := slices.Sorted(maps.Keys(byEnv()))
		if s, ok := nearest(name, names); ok {
			return nil, fmt.Errorf("environment variable %s: %w (did you mean %s, for %s?)", name, ErrUnknownKey, s, byEnv()[s])
		}
		return nil, fmt.Errorf("environment variable %s: %w (WEIR_ variables set configuration keys; see config.EnvName)", name, ErrUnknownKey)
	}
	return out, nil
}

// ParseDynamic parses -D properties, each "key=value", into a map; a later
// property overrides an earlier one. It does not check the keys.
func ParseDynamic(props []string) (map[string]string, error) {
	m := make(map[string]string, len(props))
	for _, p := range props {
		k, v, ok := strings.Cut(p, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("-D %q: want key=value", redactProperty(p))
		}
		m[k] = v
	}
	return m, nil
}

// redactProperty hides what follows the key of a malformed property that
// might carry a secret.
func redactProperty(p string) string {
	if IsSecret(p) {
		return "******"
	}
	return p
}

// ParseYAML parses a configuration file into flat keys. It does not check
// the keys.
func ParseYAML(data []byte) (map[string]string, error) {
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, errors.New(yaml.FormatError(err, false, false))
	}
	if doc == nil {
		return map[string]string{}, nil
	}
	m, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("want a map of keys, not %s", kindOf(doc))
	}
	return Flatten(m)
}

// Flatten turns nested maps into dotted keys with text values:
// {"state": {"backend": "heap"}} is {"state.backend": "heap"}. Values must
// be strings, booleans, numbers or nested maps; a key reached twice (written
// both nested and flat) is an error. The error names the key.
func Flatten(m map[string]any) (map[string]string, error) {
	out := map[string]string{}
	if err := flatten("", m, out); err != nil {
		return nil, err
	}
	return out, nil
}

func flatten(prefix string, m map[string]any, out map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		if nested, ok := m[k].(map[string]any); ok {
			if err := flatten(key, nested, out); err != nil {
				return err
			}
			continue
		}
		v, err := scalarText(m[k])
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		if _, dup := out[key]; dup {
			return fmt.Errorf("%s: is set twice (nested and with dots)", key)
		}
		out[key] = v
	}
	return nil
}

func scalarText(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case bool:
		return strconv.FormatBool(v), nil
	case int:
		return strconv.Itoa(v), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case uint64:
		return strconv.FormatUint(v, 10), nil
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return "", fmt.Errorf("%v is not a valid value", v)
		}
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	case nil:
		return "", errors.New(`has no value (write "" for an empty one)`)
	}
	return "", fmt.Errorf("want a single value, not %s", kindOf(v))
}

func kindOf(v any) string {
	switch v.(type) {
	case []any:
		return "a list"
	case map[string]any:
		return "a map"
	case string:
		return "a string"
	}
	return fmt.Sprintf("%T", v)
}
