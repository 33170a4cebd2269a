//go:build !linux

package seaweed

import "syscall"

// sysProcAttr is empty: only Linux can tie weed's life to its parent's.
func sysProcAttr() *syscall.SysProcAttr { return nil }
