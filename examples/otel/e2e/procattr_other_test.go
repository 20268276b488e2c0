//go:build !linux

package e2e

import "syscall"

// procAttr: without Linux's parent-death signal, processes are only
// stopped by t.Cleanup.
func procAttr() *syscall.SysProcAttr { return nil }
