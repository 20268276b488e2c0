package mptcpx_test

import (
	"errors"
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/internal/testenv"
)

// inNewNetns runs f on a goroutine whose thread is moved into a new network
// namespace with loopback up, so that f can change net.* sysctls without
// touching the host. Sockets f opens belong to that namespace. The thread
// is never unlocked: the runtime discards it when the goroutine ends.
func inNewNetns(t *testing.T, f func()) {
	t.Helper()
	testenv.RequireRoot(t)
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			done <- err
			return
		}
		if err := loopbackUp(); err != nil {
			done <- err
			return
		}
		defer func() { done <- nil }()
		f()
	}()
	if err := <-done; err != nil {
		testenv.Skip(t, "cannot set up a network namespace: "+err.Error())
	}
}

func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// TestDialMPTCPDisabled turns MPTCP off (sysctl net.mptcp.enabled=0, in a
// network namespace of its own): Listen and Dial still succeed, as plain
// TCP, and say so.
func TestDialMPTCPDisabled(t *testing.T) {
	testenv.CheckSockets(t)
	testenv.RequireMPTCP(t)
	inNewNetns(t, func() {
		// /proc/sys/net shows the namespace of the thread that opens it.
		if err := os.WriteFile("/proc/sys/net/mptcp/enabled", []byte("0\n"), 0o644); err != nil {
			t.Errorf("disabling MPTCP: %v", err)
			return
		}
		if _, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, unix.IPPROTO_MPTCP); !errors.Is(err, unix.ENOPROTOOPT) && !errors.Is(err, unix.EPROTONOSUPPORT) {
			t.Errorf("socket(IPPROTO_MPTCP) with MPTCP disabled: %v, want an error", err)
			return
		}

		ln, err := mptcpx.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Errorf("Listen with MPTCP disabled: %v", err)
			return
		}
		defer ln.Close()
		serverMPTCP := echoOnce(t, ln)
		c, err := mptcpx.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Errorf("Dial with MPTCP disabled: %v", err)
			return
		}
		defer c.Close()
		if ok, _ := c.(*mptcpx.Conn).MultipathTCP(); ok {
			t.Error("MultipathTCP() = true with net.mptcp.enabled=0")
		}
		snap, err := c.(*mptcpx.Conn).Info()
		if err != nil || snap.MPTCP {
			t.Errorf("Info with MPTCP disabled: %+v, %v; want a plain TCP snapshot", snap, err)
		}
		roundTrip(t, c)
		if <-serverMPTCP {
			t.Error("server: MultipathTCP() = true with net.mptcp.enabled=0")
		}
	})
	if b, err := os.ReadFile("/proc/sys/net/mptcp/enabled"); err == nil && string(b) != "1\n" {
		t.Errorf("the host's net.mptcp.enabled changed to %q", b)
	}
}
