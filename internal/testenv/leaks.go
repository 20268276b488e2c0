package testenv

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// RunWithoutLeaks runs the package's tests and fails the run when they leave
// goroutines (goleak) or file descriptors behind. Use it as TestMain's body.
// Started by IdlePeer, the test binary is instead the idle peer process.
//
// settle lets go of what the code under test keeps between connections on
// purpose (the path-event watcher that lingers after the last connection:
// pass netns.Default.Flush); it runs before leaks are counted, here and in
// CheckSockets.
func RunWithoutLeaks(m *testing.M, settle ...func()) {
	settlers = settle
	if os.Getenv(idlePeerEnv) == "1" {
		serveIdle()
		return
	}
	// Let the runtime open its poller (epoll and wake-up descriptors)
	// before counting, so that it does not count as a leak.
	if r, w, err := os.Pipe(); err == nil {
		_ = r.SetReadDeadline(time.Now())
		r.Close()
		w.Close()
	}
	before, err := OpenFDs()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if code == 0 {
		Settle()
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
		after, err := fdsAfterCaches(len(before))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		} else if len(after) > len(before) {
			fmt.Fprintf(os.Stderr, "file descriptor leak: %d open before the tests, %d after: %v\n", len(before), len(after), after)
			code = 1
		}
	}
	os.Exit(code)
}

// fdsAfterCaches returns the open descriptors once the runtime's caches
// that hold some had a chance to let go of them: package net keeps the
// pipes it splices through (io.Copy between TCP connections) in a
// sync.Pool, closed by a cleanup only after two garbage collections drop
// them. It collects and looks again, for up to a second, while there are
// more than want.
func fdsAfterCaches(want int) ([]string, error) {
	deadline := time.Now().Add(time.Second)
	for {
		fds, err := OpenFDs()
		if err != nil || len(fds) <= want || time.Now().After(deadline) {
			return fds, err
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

// OpenFDs lists this process's open file descriptors with their targets
// ("3->socket:[1234]", "4->/dev/null", ...). Where /proc is missing it
// lists nothing.
func OpenFDs() ([]string, error) {
	entries, err := os.ReadDir("/proc/self/fd")
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list open files: %w", err)
	}
	fds := make([]string, 0, len(entries))
	for _, e := range entries {
		target, _ := os.Readlink("/proc/self/fd/" + e.Name())
		fds = append(fds, e.Name()+"->"+target)
	}
	return fds, nil
}

// OpenSockets counts this process's open socket descriptors.
func OpenSockets(t testing.TB) int {
	t.Helper()
	fds, err := OpenFDs()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		if strings.Contains(fd, "->socket:") {
			n++
		}
	}
	return n
}

// CheckSockets fails t if the process holds more sockets when t ends than
// when CheckSockets was called. Call it first in a test, before anything
// registers its own cleanup, and do not run such tests in parallel. Only
// sockets are counted: the runtime opens other descriptors on its own (the
// poller, and the pool of pipes that splice(2) goes through).
func CheckSockets(t *testing.T) {
	t.Helper()
	Settle()
	before := OpenSockets(t)
	t.Cleanup(func() {
		// Closing a socket releases its descriptor at once, but a
		// goroutine still inside the poller may hold it briefly: wait for
		// the count to settle before judging.
		Settle()
		var after int
		for range 100 {
			if after = OpenSockets(t); after <= before {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Errorf("open sockets: %d before the test, %d after", before, after)
	})
}

// settlers are RunWithoutLeaks's settle functions.
var settlers []func()

// Settle runs RunWithoutLeaks's settle functions: what the code under test
// keeps between connections on purpose is let go of.
func Settle() {
	for _, f := range settlers {
		f()
	}
}
