package testbed

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"

	"golang.org/x/sys/unix"
)

// nsHandle holds an open file descriptor of the namespace (from
// /run/netns/NAME), which Do passes to setns(2). The descriptor is a
// reference that keeps the namespace alive; Close releases it.
type nsHandle struct {
	mu     sync.RWMutex
	fd     int
	closed bool // also while not yet opened
}

// newNS returns a namespace handle for name that is not open yet.
func newNS(name string) *NS {
	return &NS{name: name, h: nsHandle{fd: -1, closed: true}}
}

// open opens the namespace's descriptor.
func (ns *NS) open() error {
	fd, err := unix.Open(netnsDir+"/"+ns.name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("testbed: open namespace %s: %w", ns.name, err)
	}
	ns.h.mu.Lock()
	defer ns.h.mu.Unlock()
	ns.h.fd, ns.h.closed = fd, false
	return nil
}

// close releases the descriptor; Do fails afterwards.
func (h *nsHandle) close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	h.closed = true
	return unix.Close(h.fd)
}

// errDoGoexit reports that fn ended its goroutine (runtime.Goexit, which is
// what t.FailNow and t.Fatal do) instead of returning.
var errDoGoexit = errors.New("testbed: the function given to Do called runtime.Goexit (t.Fatal or t.FailNow must not be called inside Do)")

// Do runs fn on an OS thread whose network namespace is ns and returns fn's
// error. Sockets that fn creates belong to ns for their whole life and can be
// used from any goroutine after Do returns; connect, bind and listen are
// resolved in ns because the socket is.
//
// fn runs on a fresh goroutine locked to its OS thread. setns(2) switches
// only that thread; afterwards the thread is switched back to its original
// namespace and released to the Go scheduler. If switching back fails, the
// thread stays locked and exits with the goroutine, so no other goroutine
// can ever run in the wrong namespace. Child processes started by fn (os/exec)
// are forked from that thread and so start in ns.
//
// fn must do its namespace-sensitive work itself, not hand it to other
// goroutines (those run on other threads in the original namespace): dial
// literal addresses, not names that need a resolver. fn must not call
// t.Fatal; a panic in fn is re-raised by Do in the caller's goroutine.
func (ns *NS) Do(fn func() error) error {
	ns.h.mu.RLock()
	defer ns.h.mu.RUnlock()
	if ns.h.closed {
		return fmt.Errorf("testbed: namespace %s is already torn down", ns.name)
	}
	type result struct {
		err      error
		panicked bool
		value    any
		stack    []byte
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		res := result{err: errDoGoexit}
		// The deferred send runs on return, panic (recovered below) and
		// runtime.Goexit alike, so Do never waits forever.
		defer func() { done <- res }()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			res.err = fmt.Errorf("testbed: open this thread's namespace: %w", err)
			return
		}
		if err := unix.Setns(ns.h.fd, unix.CLONE_NEWNET); err != nil {
			unix.Close(orig)
			runtime.UnlockOSThread()
			res.err = fmt.Errorf("testbed: setns into %s: %w", ns.name, err)
			return
		}
		defer func() {
			// Switch back whatever fn did; on failure keep the thread
			// locked: it is destroyed when this goroutine exits.
			err := unix.Setns(orig, unix.CLONE_NEWNET)
			unix.Close(orig)
			if err != nil {
				res.err = errors.Join(res.err, fmt.Errorf("testbed: setns back from %s failed, thread discarded: %w", ns.name, err))
				return
			}
			runtime.UnlockOSThread()
		}()
		defer func() {
			if v := recover(); v != nil {
				res = result{panicked: true, value: v, stack: debug.Stack()}
			}
		}()
		res.err = fn()
	}()
	res := <-done
	if res.panicked {
		panic(fmt.Sprintf("testbed: panic in Do in namespace %s: %v\n%s", ns.name, res.value, res.stack))
	}
	return res.err
}
