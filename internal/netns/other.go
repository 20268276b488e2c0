//go:build !linux

package netns

import (
	"errors"
	"sync/atomic"
	"syscall"
)

// Only Linux has network namespaces and MPTCP path-manager events.

// Cookie returns an error wrapping errors.ErrUnsupported.
func Cookie(syscall.RawConn) (uint64, error) { return 0, errors.ErrUnsupported }

func threadCookie() (uint64, error) { return 0, errors.ErrUnsupported }

// InNamespaceOf returns an error wrapping errors.ErrUnsupported.
func InNamespaceOf(syscall.RawConn, uint64, func() error) error { return errors.ErrUnsupported }

type watcher struct{ ns *Namespace }

func openWatcher(syscall.RawConn, uint64) (*watcher, error) { return nil, errors.ErrUnsupported }

func probe() error { return errors.ErrUnsupported }

func (*watcher) close() {}
func (*watcher) wait()  {}
func (*watcher) run()   {}

func (*watcher) setReadBuffer(int) error { return errors.ErrUnsupported }

// TestDeliverHook is never called here.
var TestDeliverHook atomic.Pointer[func(cookie uint64)]
