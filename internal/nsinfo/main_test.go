package nsinfo

import (
	"testing"

	"github.com/mptcpx/mptcpx/internal/testenv"
)

// TestMain fails the package when the tests leave goroutines or file
// descriptors (a counter reader not closed) behind.
func TestMain(m *testing.M) { testenv.RunWithoutLeaks(m, Default.Flush) }
