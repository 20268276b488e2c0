package integration_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the package when the tests leave goroutines (the sampler's
// goroutine must return once the last connection is closed) or file
// descriptors behind.
func TestMain(m *testing.M) {
	// Let the runtime open its poller (epoll and wake-up descriptors)
	// before counting, so that it does not count as a leak.
	if r, w, err := os.Pipe(); err == nil {
		_ = r.SetReadDeadline(time.Now())
		r.Close()
		w.Close()
	}
	before, err := openFDs()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
		after, err := openFDs()
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

// openFDs lists this process's open file descriptors with their targets
// ("socket:[1234]", "/dev/null", ...).
func openFDs() ([]string, error) {
	entries, err := os.ReadDir("/proc/self/fd")
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

// openSockets counts this process's open socket descriptors.
func openSockets(t testing.TB) int {
	t.Helper()
	fds, err := openFDs()
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
