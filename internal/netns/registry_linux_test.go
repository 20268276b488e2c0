package netns_test

import (
	"errors"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/netns"
	"github.com/mptcpx/mptcpx/internal/testenv"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// target counts what a watcher hands it.
type target struct {
	events, resamples atomic.Int32
}

func (t *target) PathEvent(*conntrace.PathEvent) { t.events.Add(1) }
func (t *target) Resample()                      { t.resamples.Add(1) }

// connection returns the socket of an MPTCP loopback connection, its token
// and its namespace's cookie.
func connection(t *testing.T) (syscall.RawConn, uint32, uint64) {
	t.Helper()
	testenv.RequireMPTCP(t)
	if err := netns.Default.Status(); err != nil {
		testenv.Skip(t, "no path events here: "+err.Error())
	}
	c, _ := testenv.LoopbackMPTCP(t)
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var r mptcpinfo.Reader
	var s mptcpinfo.Snapshot
	if err := r.ReadInfo(rc, &s); err != nil || s.Info.Token == 0 {
		t.Fatalf("no token: %v", err)
	}
	cookie, err := netns.Cookie(rc)
	if err != nil {
		t.Fatal(err)
	}
	return rc, s.Info.Token, cookie
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 10 s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// lingering returns a registry whose watchers linger for linger, warmed,
// following one connection of the process's namespace (its watcher open),
// and a function that follows that connection again.
func lingering(t *testing.T, linger time.Duration) (r *netns.Registry, h *netns.Handle, cookie uint64, follow func() *netns.Handle) {
	t.Helper()
	rc, token, cookie := connection(t)
	r = netns.NewTestRegistry(linger)
	r.Warm()
	t.Cleanup(r.Flush)
	tg := &target{}
	follow = func() *netns.Handle { return r.Follow(cookie, rc, token, tg) }
	h = follow()
	waitFor(t, "the watcher opens", h.Active)
	return r, h, cookie, follow
}

// TestWatcherLingers: the watcher of the process's own namespace is opened
// ahead (Warm), off any connection's path, stays open for the linger after
// the last connection, so that the next connection finds it, and closes
// after that.
func TestWatcherLingers(t *testing.T) {
	r, h, cookie, follow := lingering(t, 300*time.Millisecond)
	h.Forget()
	if !r.Watching(cookie) {
		t.Fatal("the watcher closed with its last connection, want it to linger")
	}
	h = follow()
	if !h.Active() || r.Opens() != 1 {
		t.Fatalf("the next connection: active %v, %d watchers opened; want the lingering one", h.Active(), r.Opens())
	}
	h.Forget()
	waitFor(t, "the watcher closes after the linger", func() bool { return !r.Watching(cookie) && r.Known() == 0 })
}

// TestWatcherLingersFromTheLast: the linger counts from when the last
// connection left, however many came and went since it first began (the
// timer set then is not stopped by each connection: it looks again).
func TestWatcherLingersFromTheLast(t *testing.T) {
	const linger = time.Second
	r, h, cookie, follow := lingering(t, linger)
	h.Forget()
	time.Sleep(linger * 6 / 10)
	follow().Forget()
	left := time.Now()
	time.Sleep(linger * 6 / 10)
	if !r.Watching(cookie) && time.Since(left) < linger {
		t.Fatalf("the watcher closed %v after the first connection left, %v after the last, want the linger (%v) after the last",
			time.Since(left)+linger*6/10, time.Since(left), linger)
	}
	waitFor(t, "the watcher closes after the linger", func() bool { return !r.Watching(cookie) && r.Known() == 0 })
	if n := r.Opens(); n != 1 {
		t.Errorf("%d watchers opened, want 1", n)
	}
}

// TestWatcherRetries: a watcher that cannot be opened for a transient
// reason (the process out of descriptors) is tried again after a backoff;
// meanwhile Status says why events are not received, and once the retry
// succeeds, they are, and Status says so.
func TestWatcherRetries(t *testing.T) {
	rc, token, cookie := connection(t)
	r := netns.NewTestRegistry(0)
	defer r.Flush()
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	fds, err := testenv.OpenFDs()
	if err != nil {
		t.Fatal(err)
	}
	low := lim
	low.Cur = uint64(len(fds)) - 1 // no descriptor more (the listing counted its own)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
				t.Fatal(err)
			}
		}
	}
	defer restore()
	tg := &target{}
	h := r.Follow(cookie, rc, token, tg)
	defer h.Forget()
	waitFor(t, "the open fails", func() bool { return r.Status() != nil })
	restore()
	err = r.Status()
	if !errors.Is(err, syscall.EMFILE) && !strings.Contains(err.Error(), "too many open files") {
		t.Fatalf("Status after a failed open: %v, want the EMFILE that made it fail", err)
	}
	t.Logf("Status while waiting: %v", err)
	if h.Active() {
		t.Fatal("events received although the watcher failed")
	}
	waitFor(t, "the watcher is opened again after its backoff", h.Active)
	if err := r.Status(); err != nil {
		t.Fatalf("Status once open: %v", err)
	}
	if !r.Watching(cookie) {
		t.Fatal("no watcher for the namespace")
	}
}

// TestStatusWithoutMPTCPEvents: on a system without MPTCP events, Status
// says so with errors.ErrUnsupported; with them, it is nil before any
// connection.
func TestStatus(t *testing.T) {
	err := netns.NewRegistry().Status()
	switch {
	case err == nil:
	case errors.Is(err, errors.ErrUnsupported), errors.Is(err, os.ErrPermission):
		t.Logf("no path events here: %v", err)
	default:
		t.Fatalf("Status: %v, want nil, ErrUnsupported or ErrPermission", err)
	}
}
