package mptcpxgrpc_test

import (
	"testing"

	"github.com/mptcpx/mptcpx/internal/follow"
	"github.com/mptcpx/mptcpx/internal/testenv"
)

// TestMain fails the package when the tests leave goroutines (grpc-go's
// and the sampler's must end once clients, servers and connections are
// closed) or file descriptors behind.
func TestMain(m *testing.M) { testenv.RunWithoutLeaks(m, follow.Settle) }
