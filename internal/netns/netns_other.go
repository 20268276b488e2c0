//go:build !linux

package netns

import (
	"errors"
	"fmt"
	"syscall"
)

// Do returns an error wrapping errors.ErrUnsupported: only Linux has
// network namespaces.
func Do(rc syscall.RawConn, fn func() error) error {
	return fmt.Errorf("netns: %w: network namespaces are a Linux feature", errors.ErrUnsupported)
}

// Cookie returns an error wrapping errors.ErrUnsupported.
func Cookie(rc syscall.RawConn) (uint64, error) {
	return 0, fmt.Errorf("netns: %w: network namespaces are a Linux feature", errors.ErrUnsupported)
}

// ThreadCookie returns an error wrapping errors.ErrUnsupported.
func ThreadCookie() (uint64, error) {
	return 0, fmt.Errorf("netns: %w: network namespaces are a Linux feature", errors.ErrUnsupported)
}
