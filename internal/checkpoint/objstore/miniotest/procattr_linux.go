package miniotest

import "syscall"

// dieWithParent makes the kernel kill MinIO when the test binary dies, so a
// test binary killed by a timeout leaves no server behind.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
