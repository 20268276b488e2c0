package netns_test

import (
	"testing"

	"github.com/mptcpx/mptcpx/internal/netns"
	"github.com/mptcpx/mptcpx/internal/testenv"
)

// TestMain fails the package when the tests leave goroutines or file
// descriptors (a namespace descriptor not closed) behind.
func TestMain(m *testing.M) { testenv.RunWithoutLeaks(m, netns.Default.Flush) }
