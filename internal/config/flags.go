package config

import "strings"

// Properties collects repeatable -D key=value flags (Flink's dynamic
// properties); it implements flag.Value.
type Properties []string

func (p *Properties) String() string { return strings.Join(*p, " ") }

// Set adds one property.
func (p *Properties) Set(v string) error {
	*p = append(*p, v)
	return nil
}
