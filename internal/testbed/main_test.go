package testbed

import (
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the package when the tests leave goroutines or file
// descriptors behind.
func TestMain(m *testing.M) {
	// Let the runtime open its poller (epoll fd and wake-up descriptor)
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
