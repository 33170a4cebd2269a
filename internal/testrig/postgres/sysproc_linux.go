//go:build linux

package postgres

import "syscall"

// sysProcAttr runs a command as uid:gid (when switchUser) and makes the
// kernel stop it when the process that started it dies: SIGQUIT is the
// server's immediate shutdown, which also ends its backends, so a killed
// test run leaves no server behind.
func sysProcAttr(switchUser bool, uid, gid uint32) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Pdeathsig: syscall.SIGQUIT}
	if switchUser {
		a.Credential = &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}
	}
	return a
}

// running reports whether process pid exists.
func running(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}
