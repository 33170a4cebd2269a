//go:build linux

package mailpit

import "syscall"

// sysProcAttr makes the kernel kill Mailpit when the process that started
// it dies, so a crashed or killed test leaves no server behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
