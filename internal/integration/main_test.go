package integration_test

import (
	"testing"

	"github.com/mptcpx/mptcpx/internal/follow"
	"github.com/mptcpx/mptcpx/internal/testenv"
)

// TestMain fails the package when the tests leave goroutines (the sampler's
// goroutine must return once the last connection is closed) or file
// descriptors behind.
func TestMain(m *testing.M) { testenv.RunWithoutLeaks(m, follow.Settle) }
