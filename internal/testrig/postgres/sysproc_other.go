//go:build !linux

package postgres

import "syscall"

// sysProcAttr is empty: only Linux can tie a server's life to its parent's,
// and the tests run as root only on Linux (Debian) machines.
func sysProcAttr(switchUser bool, uid, gid uint32) *syscall.SysProcAttr { return nil }

// running reports true: without a portable check, a directory is kept
// rather than removed under a live server.
func running(pid int) bool { return true }
