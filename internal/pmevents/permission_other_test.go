//go:build !linux

package pmevents

// childOpen exists only on Linux, where TestOpenWithoutCapNetAdmin
// re-executes the test binary; elsewhere nothing starts such a child.
func childOpen(mode string) int { return 1 }
