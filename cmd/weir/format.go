package main

import (
	"fmt"
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

func checkpointStatusName(s weirv1.CheckpointStatus) string {
	return strings.TrimPrefix(s.String(), "CHECKPOINT_STATUS_")
}

func kindName(k weirv1.SnapshotKind) string {
	return strings.TrimPrefix(k.String(), "SNAPSHOT_KIND_")
}

// millisText prints a duration in milliseconds as Go does: "1.5s", "250ms".
func millisText(ms int64) string {
	return (time.Duration(ms) * time.Millisecond).String()
}

// bytesText prints a size in bytes with binary units: "512 B", "1.5 KiB".
func bytesText(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
