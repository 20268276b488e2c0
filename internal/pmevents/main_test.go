package pmevents

import (
	"os"
	"testing"

	"github.com/mptcpx/mptcpx/internal/testenv"
)

// childEnv makes the test binary run childOpen instead of its tests; its
// value is the way the child loses CAP_NET_ADMIN.
const childEnv = "PMEVENTS_TEST_CHILD"

// TestMain fails the package when the tests leave goroutines (a collector
// still blocked in Receive) or file descriptors (a socket not closed)
// behind. When the test binary is re-executed as the unprivileged child of
// TestOpenWithoutCapNetAdmin (childEnv set), it runs that child's check
// instead of the tests.
func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(childOpen(mode))
	}
	testenv.RunWithoutLeaks(m)
}
