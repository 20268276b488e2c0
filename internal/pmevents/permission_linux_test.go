package pmevents

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mptcpx/mptcpx/internal/testenv"
)

// Exit codes of childOpen. The child prints nothing when the outcome is the
// expected one, so that the parent can check that Open and Probe are
// silent.
const (
	childEPERM      = 0  // Open and Probe failed with ErrPermission wrapping EPERM
	childOtherErrno = 10 // ErrPermission, but not EPERM
	childOpened     = 11 // Open succeeded
	childOtherError = 12 // some other error (printed to stderr)
	childSetup      = 13 // dropping the capabilities failed (printed)
)

// childOpen runs in the re-executed test binary. In mode "capset" it first
// clears its capability sets (it runs as root in the caller's namespaces,
// without capabilities); in mode "userns" the parent started it in a new
// user namespace, whose capabilities do not count in the network
// namespace, which belongs to the parent's user namespace.
func childOpen(mode string) int {
	if mode == "capset" {
		// Capabilities belong to threads: clear this thread's and keep
		// the goroutine on it, so that Open's setsockopt calls (made
		// on the calling goroutine) run without them.
		runtime.LockOSThread()
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			os.Stderr.WriteString("capset: " + err.Error() + "\n")
			return childSetup
		}
	}
	l, err := Open()
	if err == nil {
		l.Close()
		return childOpened
	}
	code := classify(err)
	if code == childOtherError {
		os.Stderr.WriteString("Open: " + err.Error() + "\n")
		return code
	}
	if perr := Probe(); classify(perr) != code {
		os.Stderr.WriteString("Probe: " + errString(perr) + "\n")
		return childOtherError
	}
	return code
}

// classify maps an Open error to a childOpen exit code.
func classify(err error) int {
	switch {
	case err == nil:
		return childOpened
	case errors.Is(err, ErrPermission) && errors.Is(err, os.ErrPermission) && errors.Is(err, syscall.EPERM):
		return childEPERM
	case errors.Is(err, ErrPermission):
		return childOtherErrno
	}
	return childOtherError
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// TestOpenWithoutCapNetAdmin re-executes the test binary without
// CAP_NET_ADMIN for the network namespace, in two ways, and checks that
// Open and Probe fail with ErrPermission wrapping EPERM (the errno genl_bind
// returns for a group registered with GENL_MCAST_CAP_NET_ADMIN), and print
// nothing.
func TestOpenWithoutCapNetAdmin(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireMPTCP(t)
	if err := Probe(); err != nil {
		reason := "no MPTCP path-manager events here even as root: " + err.Error()
		if testenv.KernelMatrix() && errors.Is(err, ErrUnsupported) {
			t.Skip(reason + " (a kernel of the matrix before 5.12)")
		}
		testenv.Skip(t, reason)
	}
	for _, tc := range []struct {
		mode string
		attr *syscall.SysProcAttr
	}{
		// Root's user id, no capabilities.
		{"capset", nil},
		// All capabilities, but in a user namespace that does not own
		// the network namespace.
		{"userns", &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), childEnv+"="+tc.mode)
			cmd.SysProcAttr = tc.attr
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := cmd.ProcessState.ExitCode()
			if err != nil && code < 0 {
				t.Fatalf("run the child: %v", err)
			}
			if code != childEPERM {
				t.Errorf("child exit code %d, want %d (ErrPermission wrapping EPERM); stderr: %s", code, childEPERM, stderr.Bytes())
			}
			if stdout.Len() > 0 || stderr.Len() > 0 {
				t.Errorf("the child printed something: stdout %q, stderr %q", stdout.Bytes(), stderr.Bytes())
			}
		})
	}
}
