package pmevents

import (
	"testing"

	"github.com/mptcpx/mptcpx/internal/testenv"
)

// TestMain fails the package when the tests leave goroutines (a collector
// still blocked in Receive) or file descriptors (a socket not closed)
// behind.
func TestMain(m *testing.M) { testenv.RunWithoutLeaks(m) }
