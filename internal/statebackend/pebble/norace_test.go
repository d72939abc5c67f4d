//go:build !race

package pebble

// raceEnabled reports whether the race detector is on: tests that measure
// memory or time scale themselves down under it.
const raceEnabled = false
