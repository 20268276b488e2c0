// Package testenv decides what the project's tests may assume about the
// machine they run on. A test that needs root, MPTCP or network namespaces
// skips with a message saying how to run it; with MPTCPX_STRICT=1 (set by
// .ci/run) it fails instead, so CI never passes by skipping.
package testenv

import (
	"os"
	"syscall"
	"testing"
)

// StrictEnv is the environment variable that turns skips into failures.
const StrictEnv = "MPTCPX_STRICT"

// Strict reports whether missing capabilities must fail tests.
func Strict() bool { return os.Getenv(StrictEnv) == "1" }

// Skip skips t with reason, or fails it in strict mode.
func Skip(t testing.TB, reason string) {
	t.Helper()
	if Strict() {
		t.Fatalf("%s (%s=1: this must not be skipped)", reason, StrictEnv)
	}
	t.Skip(reason)
}

// RequireRoot skips t unless the test runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Skip(t, "needs root (network namespaces, MPTCP endpoints): run as root, for example sudo go test ./...")
	}
}

// KernelMatrixEnv is set to 1 by scripts/kernel-matrix in the virtual
// machines that boot older kernels.
const KernelMatrixEnv = "MPTCPX_KERNEL_MATRIX"

// KernelMatrix reports whether the tests run inside the kernel matrix.
func KernelMatrix() bool { return os.Getenv(KernelMatrixEnv) == "1" }

// RequireMPTCP skips t unless the kernel opens MPTCP sockets
// (CONFIG_MPTCP and sysctl net.mptcp.enabled=1). Inside the kernel matrix,
// a kernel built without MPTCP is one of the kernels under test, not a
// broken machine: there the test skips even in strict mode, and the tests
// named TestWithoutMPTCP check what such a kernel must still do.
func RequireMPTCP(t testing.TB) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 262 /* IPPROTO_MPTCP */)
	if err != nil {
		reason := "the kernel does not open MPTCP sockets (" + err.Error() + "): needs Linux 5.6+ with CONFIG_MPTCP and sysctl net.mptcp.enabled=1"
		if KernelMatrix() && err == syscall.EPROTONOSUPPORT {
			t.Skip(reason + "; TestWithoutMPTCP covers this kernel")
		}
		Skip(t, reason)
		return
	}
	syscall.Close(fd)
}

// RequireNoMPTCP skips t unless the kernel cannot open MPTCP sockets: for
// the tests of what mptcpx does where MPTCP does not exist, which run in the
// kernel matrix (Linux 5.10 as Debian builds it has no MPTCP).
func RequireNoMPTCP(t testing.TB) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 262 /* IPPROTO_MPTCP */)
	if err == nil {
		syscall.Close(fd)
		t.Skip("this kernel opens MPTCP sockets; the kernel matrix runs this test on a kernel without MPTCP (scripts/kernel-matrix)")
	}
}
