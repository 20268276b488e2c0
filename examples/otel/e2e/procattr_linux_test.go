package e2e

import "syscall"

// procAttr makes the kernel kill a started process when the test process
// dies (PR_SET_PDEATHSIG), so that a test killed by its timeout leaves no
// backend running; a normal end stops them in t.Cleanup.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
