package mptcpinfo

import (
	"testing"

	"github.com/mptcpx/mptcpx/internal/testenv"
)

// TestMain fails the run if the tests leave goroutines or file descriptors
// (a Reader's socket probes, a test's connections) behind.
func TestMain(m *testing.M) { testenv.RunWithoutLeaks(m) }
