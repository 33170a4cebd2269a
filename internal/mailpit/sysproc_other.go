//go:build !linux

package mailpit

import "syscall"

// sysProcAttr is empty: only Linux can tie Mailpit's life to its parent's.
func sysProcAttr() *syscall.SysProcAttr { return nil }
