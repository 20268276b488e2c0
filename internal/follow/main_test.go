package follow

import (
	"testing"

	"github.com/mptcpx/mptcpx/internal/testenv"
)

// TestMain fails the run if the tests leave goroutines (the scheduler's
// goroutine must return once the last connection leaves and Settle ends
// its linger) or descriptors behind.
func TestMain(m *testing.M) { testenv.RunWithoutLeaks(m, Settle) }
