//go:build !linux

package main

// newNamespaces needs Linux network namespaces and MPTCP endpoints.
func newNamespaces(paths int, blackhole bool) (*network, error) {
	return nil, &usageError{"-paths greater than 1 needs Linux (network namespaces and MPTCP endpoints)"}
}
