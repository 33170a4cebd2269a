//go:build !linux

package localtool

import "syscall"

// SysProcAttr is empty: only Linux can tie a server's life to its parent's.
func SysProcAttr() *syscall.SysProcAttr { return nil }
