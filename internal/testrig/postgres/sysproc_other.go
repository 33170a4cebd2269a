//go:build !linux

package postgres

import "syscall"

// sysProcAttr is empty: only Linux can tie a server's life to its parent's,
// and the tests run as root only on Linux (Debian) machines.
func sysProcAttr(switchUser bool, uid, gid uint32) *syscall.SysProcAttr { return nil }
