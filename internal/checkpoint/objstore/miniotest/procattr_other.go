//go:build !linux

package miniotest

import "syscall"

// dieWithParent has no portable equivalent outside Linux: a test binary
// killed by a timeout may leave MinIO running there.
func dieWithParent() *syscall.SysProcAttr { return nil }
