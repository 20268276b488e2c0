//go:build !linux

package testbed

import "errors"

// nsHandle is empty: network namespaces exist only on Linux.
type nsHandle struct{}

func (h *nsHandle) close() error { return nil }

// Do fails: network namespaces exist only on Linux.
func (ns *NS) Do(fn func() error) error {
	return errors.New("testbed: network namespaces need Linux")
}
