// Package keygroup is the key-group arithmetic of DESIGN invariant 1:
//
//	key -> 64-bit hash -> key group = hash % maxParallelism -> subtask = kg * parallelism / maxParallelism
//
// Keyed state is stored per key group, so a job restored with another
// parallelism hands each subtask exactly its contiguous range of key groups.
// The package is pure: no I/O, no clock, no goroutines.
package keygroup

import (
	"fmt"

	"github.com/cespare/xxhash/v2"
)

// DefaultMaxParallelism is the number of key groups a job has unless it says otherwise.
const DefaultMaxParallelism = 128

// UpperBound is the largest max parallelism a job may declare (Flink's limit).
const UpperBound = 32768

// Hash returns the stable 64-bit hash of an encoded key. It must never
// change: key groups, and so the placement of checkpointed state, depend on it.
func Hash(encodedKey []byte) uint64 { return xxhash.Sum64(encodedKey) }

// Of returns the key group of a key hash.
func Of(hash uint64, maxParallelism int) int { return int(hash % uint64(maxParallelism)) }

// Subtask returns the subtask that owns key group kg.
func Subtask(kg, parallelism, maxParallelism int) int {
	return kg * parallelism / maxParallelism
}

// Range is the half-open interval [Start, End) of key groups.
type Range struct{ Start, End int }

// Contains reports whether kg lies in r.
func (r Range) Contains(kg int) bool { return kg >= r.Start && kg < r.End }

// Len is the number of key groups in r.
func (r Range) Len() int { return r.End - r.Start }

func (r Range) String() string { return fmt.Sprintf("[%d,%d)", r.Start, r.End) }

// RangeOf returns the key groups subtask owns: exactly those kg for which
// Subtask(kg, parallelism, maxParallelism) == subtask.
func RangeOf(subtask, parallelism, maxParallelism int) Range {
	// The smallest kg with kg*p/m >= s is ceil(s*m/p).
	start := (subtask*maxParallelism + parallelism - 1) / parallelism
	end := ((subtask+1)*maxParallelism + parallelism - 1) / parallelism
	return Range{Start: start, End: end}
}

// Validate checks a parallelism against a max parallelism.
func Validate(parallelism, maxParallelism int) error {
	if maxParallelism < 1 || maxParallelism > UpperBound {
		return fmt.Errorf("max parallelism %d is outside 1..%d", maxParallelism, UpperBound)
	}
	if parallelism < 1 || parallelism > maxParallelism {
		return fmt.Errorf("parallelism %d is outside 1..%d (the max parallelism)", parallelism, maxParallelism)
	}
	return nil
}
