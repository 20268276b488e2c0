package pmconfig

import (
	"os"
	"testing"

	"github.com/mptcpx/mptcpx/internal/testenv"
)

// childEnv makes the test binary run childRead instead of its tests; its
// value says how the child lost its privileges (see TestWithoutPrivilege).
const childEnv = "PMCONFIG_TEST_CHILD"

// TestMain fails the package when the tests leave goroutines or file
// descriptors behind. Re-executed as the unprivileged child of
// TestWithoutPrivilege (childEnv set), it runs that child instead.
func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(childRead(mode))
	}
	testenv.RunWithoutLeaks(m)
}
