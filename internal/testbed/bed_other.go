//go:build !linux

package testbed

import (
	"testing"

	"github.com/mptcpx/mptcpx/internal/testenv"
)

// NamePrefix starts the name of every namespace a bed creates.
const NamePrefix = "mpx-"

// New skips t (fails it when MPTCPX_STRICT=1): network namespaces and MPTCP
// need Linux.
func New(t testing.TB, cfg Config) *Bed {
	t.Helper()
	testenv.Skip(t, "the multi-path test bed needs Linux (network namespaces, MPTCP) and root")
	return nil
}

// Close does nothing: there are no beds on this system.
func (b *Bed) Close() error { return nil }

// Sweep does nothing: there are no beds on this system.
func Sweep() ([]string, error) { return nil, nil }
