//go:build !linux

package mptcpx

import "errors"

// pathEvents stands in for the Linux registry: there are no MPTCP
// path-manager events here.
var pathEvents noEvents

type noEvents struct{}

func (noEvents) follow(*follower, uint32) {}

type eventWatcher struct{}

func (*eventWatcher) forget(*follower) {}

// PathEvents returns an error matching errors.ErrUnsupported: MPTCP
// path-manager events exist on Linux only.
func PathEvents() error {
	return errors.ErrUnsupported
}

// PathEventsLost returns 0: no events here.
func PathEventsLost() uint64 { return 0 }
