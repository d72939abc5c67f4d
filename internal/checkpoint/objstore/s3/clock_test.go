package s3_test

import "github.com/weirstream/weir/internal/clock"

// realClock: Retrying over a real server waits real time, rarely.
type realClock = clock.Real
