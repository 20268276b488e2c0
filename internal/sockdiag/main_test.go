package sockdiag

import (
	"os"
	"testing"

	"github.com/mptcpx/mptcpx/internal/testenv"
)

// childEnv makes the test binary run a child's job instead of its tests;
// its value names the job (see runChild).
const childEnv = "SOCKDIAG_TEST_CHILD"

// TestMain fails the package when the tests leave goroutines or file
// descriptors (a Dumper or a connection not closed) behind. When the test
// binary is re-executed as a child of a test (childEnv set), it does the
// child's job instead of running the tests.
func TestMain(m *testing.M) {
	if job := os.Getenv(childEnv); job != "" {
		os.Exit(runChild(job))
	}
	testenv.RunWithoutLeaks(m)
}
