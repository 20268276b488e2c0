//go:build !linux

package netns

import (
	"errors"
	"sync/atomic"
	"syscall"
)

// Only Linux has network namespaces and MPTCP path-manager events.

type watcher struct{ ns *Namespace }

func openWatcher(uint64, syscall.RawConn) (*watcher, error) { return nil, errors.ErrUnsupported }

func probe() error { return errors.ErrUnsupported }

func (*watcher) close() {}
func (*watcher) wait()  {}
func (*watcher) run()   {}

func (*watcher) setReadBuffer(int) error { return errors.ErrUnsupported }

// TestDeliverHook is never called here.
var TestDeliverHook atomic.Pointer[func(cookie uint64)]
