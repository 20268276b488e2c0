package netns_test

import (
	"errors"
	"net"
	"runtime"
	"syscall"
	"testing"

	"github.com/mptcpx/mptcpx/internal/netns"
	"github.com/mptcpx/mptcpx/internal/testbed"
	"github.com/mptcpx/mptcpx/internal/testenv"
)

// udpIn opens a UDP socket in ns (nil: the test's own namespace); the
// test's cleanup closes it.
func udpIn(t *testing.T, ns *testbed.NS) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	open := func() (err error) {
		c, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		return err
	}
	var err error
	if ns == nil {
		err = open()
	} else {
		err = ns.Do(open)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func rawConn(t *testing.T, c syscall.Conn) syscall.RawConn {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// TestDoHere: for a socket of the caller's own namespace fn runs in that
// namespace, without setns (which would need CAP_SYS_ADMIN: the
// unprivileged test in package pmconfig relies on this).
func TestDoHere(t *testing.T) {
	testenv.CheckSockets(t)
	rc := rawConn(t, udpIn(t, nil))
	want, err := netns.Cookie(rc)
	if err != nil {
		t.Skipf("no SO_NETNS_COOKIE (Linux 5.14+): %v", err)
	}
	var got uint64
	if err := netns.Do(rc, func() (err error) { got, err = netns.ThreadCookie(); return err }); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("inside Do the thread's namespace cookie is %d, the socket's %d", got, want)
	}
}

// TestDoEnters: for a socket of another namespace fn runs on a thread in
// that namespace; the caller's thread and later calls are back home.
func TestDoEnters(t *testing.T) {
	testenv.CheckSockets(t)
	bed := testbed.New(t, testbed.Config{Paths: 1})
	there := rawConn(t, udpIn(t, bed.Client))
	here := rawConn(t, udpIn(t, nil))
	want, err := netns.Cookie(there)
	if err != nil {
		t.Skipf("no SO_NETNS_COOKIE (Linux 5.14+): %v", err)
	}
	home, _ := netns.Cookie(here)
	if want == home {
		t.Fatal("the bed's namespace has the test's cookie")
	}
	for range 3 {
		var got uint64
		if err := netns.Do(there, func() (err error) { got, err = netns.ThreadCookie(); return err }); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("inside Do the thread's namespace cookie is %d, want the socket's %d", got, want)
		}
		if err := netns.Do(here, func() (err error) { got, err = netns.ThreadCookie(); return err }); err != nil {
			t.Fatal(err)
		}
		if got != home {
			t.Errorf("Do for a socket of the test's namespace ran in %d, want %d", got, home)
		}
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if c, _ := netns.ThreadCookie(); c != home {
		t.Errorf("the test's thread is in namespace %d after Do, want %d", c, home)
	}
}

// TestDoErrors: fn's error comes back as is; a closed socket is an error
// and fn does not run; a panic in fn is raised in the caller.
func TestDoErrors(t *testing.T) {
	testenv.CheckSockets(t)
	c := udpIn(t, nil)
	rc := rawConn(t, c)
	errFn := errors.New("from fn")
	if err := netns.Do(rc, func() error { return errFn }); err != errFn {
		t.Errorf("Do returned %v, want fn's error", err)
	}
	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Errorf("recovered %v, want the panic of fn", v)
			}
		}()
		netns.Do(rc, func() error { panic("boom") })
		t.Error("Do returned after fn panicked")
	}()
	c.Close()
	ran := false
	err := netns.Do(rc, func() error { ran = true; return nil })
	if err == nil || ran {
		t.Errorf("Do on a closed socket: err %v, fn ran %v", err, ran)
	}
}
