//go:build linux

package localtool

import "syscall"

// SysProcAttr makes the kernel kill a started server when the process that
// started it dies, so a crashed or killed test leaves no server behind.
func SysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
