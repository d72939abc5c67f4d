package main

import (
	"strings"
	"time"

	weirv1 "github.com/weirstream/weir/api/proto/weir/v1"
)

func statusName(s weirv1.JobStatus) string {
	return strings.TrimPrefix(s.String(), "JOB_STATUS_")
}

func stateName(s weirv1.ExecutionState) string {
	return strings.TrimPrefix(s.String(), "EXECUTION_STATE_")
}

// timeText prints a Unix time in milliseconds, or "-" for none.
func (c *cli) timeText(ms int64) string {
	if ms <= 0 {
		return "-"
	}
	return time.UnixMilli(ms).In(c.loc).Format("2006-01-02 15:04:05")
}
