//go:build !linux

package pmconfig

// childRead exists only on Linux, where TestWithoutPrivilege re-executes
// the test binary; elsewhere nothing starts such a child.
func childRead(mode string) int { return 1 }
