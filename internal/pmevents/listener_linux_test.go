package pmevents

import (
	"errors"
	"net"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/mdlayher/genetlink"
	"golang.org/x/sys/unix"

	"github.com/mptcpx/mptcpx/internal/testbed"
	"github.com/mptcpx/mptcpx/internal/testenv"
)

// TestCloseUnblocksReceive closes a Listener while another goroutine is
// blocked in Receive: Receive returns net.ErrClosed at once, and so does
// every later call. (TestMain checks that no goroutine is left behind.)
func TestCloseUnblocksReceive(t *testing.T) {
	testenv.CheckSockets(t)
	bed := newBed(t, testbed.Config{Paths: 1})
	l := openIn(t, bed.Client)
	done := make(chan error, 1)
	go func() { done <- l.Receive(func(*Event) {}) }()
	time.Sleep(50 * time.Millisecond) // let it block in the poller
	start := time.Now()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Logf("Receive returned %v after Close", time.Since(start))
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Receive = %v, want net.ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Receive still blocked 2s after Close")
	}
	if err := l.Receive(func(*Event) {}); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Receive after Close = %v, want net.ErrClosed", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

// TestReadDeadline checks that a read deadline ends a blocked Receive with
// os.ErrDeadlineExceeded, and that the Listener works once it is cleared.
func TestReadDeadline(t *testing.T) {
	testenv.CheckSockets(t)
	bed := newBed(t, testbed.Config{Paths: 1})
	l := openIn(t, bed.Client)
	if err := l.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := l.Receive(func(*Event) {}); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Receive = %v, want os.ErrDeadlineExceeded", err)
	}
	if err := l.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	// A connection in the namespace: CREATED comes on every kernel with
	// events (listener events only since 6.2). A deadline again bounds the
	// wait, in case nothing comes.
	srv := serve(t, bed, false)
	dial(t, bed, srv.port)
	if err := l.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var kinds []Kind
	for !slices.Contains(kinds, Created) {
		if err := l.Receive(func(e *Event) { kinds = append(kinds, e.Kind) }); err != nil {
			t.Fatalf("after the deadline was cleared, Receive = %v (events so far %v), want CREATED", err, kinds)
		}
	}
}

// TestForeignDatagramIgnored sends the Listener a well-formed CLOSED event
// from another netlink socket (any process may send a unicast datagram to
// a netlink socket's port id): it is not an event, only counted.
func TestForeignDatagramIgnored(t *testing.T) {
	testenv.CheckSockets(t)
	bed := newBed(t, testbed.Config{Paths: 1})
	l := openIn(t, bed.Client)
	var portID uint32
	var serr error
	err := l.raw.Control(func(fd uintptr) {
		var sa unix.Sockaddr
		if sa, serr = unix.Getsockname(int(fd)); serr == nil {
			portID = sa.(*unix.SockaddrNetlink).Pid
		}
	})
	if err == nil {
		err = serr
	}
	if err != nil || portID == 0 {
		t.Fatalf("getsockname: port id %d, %v", portID, err)
	}
	forged := frame(l.family, []byte{byte(Closed), 1, 0, 0, 8, 0, byte(AttrToken), 0, 1, 2, 3, 4})
	err = bed.Client.Do(func() error {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_GENERIC)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return unix.Sendto(fd, forged, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Pid: portID})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetReadDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	err = l.Receive(func(e *Event) { t.Errorf("forged event delivered: %v", describe(e)) })
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Receive = %v, want os.ErrDeadlineExceeded", err)
	}
	if s := l.Stats(); s != (Stats{Foreign: 1}) {
		t.Errorf("Stats = %+v, want one foreign datagram", s)
	}
}

// TestUnsupported checks the errors for a kernel without the mptcp_pm
// family or without its events group, using names this kernel lacks.
func TestUnsupported(t *testing.T) {
	testenv.CheckSockets(t)
	for _, tc := range []struct{ family, group string }{
		{"mptcp_pm_nope", groupName}, // no MPTCP (GENL_NAMSIZ: names up to 15 bytes, longer ones are EINVAL)
		{"nlctrl", groupName},        // a family without such a group (MPTCP before 5.12)
	} {
		l, err := open(tc.family, tc.group, 0)
		if err == nil {
			l.Close()
			t.Fatalf("open(%s, %s) succeeded", tc.family, tc.group)
		}
		if !errors.Is(err, ErrUnsupported) {
			t.Errorf("open(%s, %s) = %v, want ErrUnsupported", tc.family, tc.group, err)
		}
	}
}

// TestProbe checks that Probe says yes where Open works.
func TestProbe(t *testing.T) {
	testenv.CheckSockets(t)
	bed := newBed(t, testbed.Config{Paths: 1})
	if err := bed.Client.Do(Probe); err != nil {
		t.Errorf("Probe in %s = %v", bed.Client, err)
	}
}

// TestReceiveAllocs measures the heap allocations of receiving: Receive
// draining a queue of events, and mdlayher/genetlink's Conn.Receive on a
// second socket in the same group receiving the same events. Receive must
// not allocate; the library's figures are logged.
func TestReceiveAllocs(t *testing.T) {
	testenv.CheckSockets(t)
	bed := newBed(t, testbed.Config{Paths: 2})
	l := openIn(t, bed.Client)
	var lib *genetlink.Conn
	err := bed.Client.Do(func() error {
		var err error
		if lib, err = genetlink.Dial(nil); err != nil {
			return err
		}
		fam, err := lib.GetFamily(familyName)
		if err != nil {
			return err
		}
		for _, g := range fam.Groups {
			if g.Name == groupName {
				return lib.JoinGroup(g.ID)
			}
		}
		return errors.New("no events group")
	})
	if lib != nil {
		defer lib.Close()
	}
	if err != nil {
		t.Fatal(err)
	}

	srv := serve(t, bed, false)
	const conns = 10
	for range conns {
		c := dial(t, bed, srv.port)
		token := tokenOf(t, c)
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		// Wait for the join, so that every connection gives the same
		// events: CREATED, ESTABLISHED, SUB_ESTABLISHED, CLOSED.
		_, err := bed.Client.WaitTCP(waitTimeout, func(socks []testbed.TCPSocket) bool {
			return len(testbed.SubflowsOf(socks, token)) == 2
		})
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	if _, err := bed.Client.WaitMPTCP(waitTimeout, func(s []testbed.MPTCPSocket) bool { return len(s) == 0 }); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the last CLOSED events

	events := 0
	count := func(*Event) { events++ }
	mallocs := func() uint64 {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.Mallocs
	}
	runtime.GC()
	before := mallocs()
	err = l.Receive(count)
	ours := mallocs() - before
	if err != nil {
		t.Fatal(err)
	}
	if events < 3*conns {
		t.Fatalf("one Receive delivered %d events, want at least %d", events, 3*conns)
	}
	t.Logf("Listener.Receive: %d allocations for %d events in one call", ours, events)
	if ours != 0 {
		t.Errorf("Listener.Receive allocated %d times, want 0", ours)
	}

	runtime.GC()
	before = mallocs()
	msgs := 0
	for msgs < events {
		m, _, err := lib.Receive()
		if err != nil {
			t.Fatal(err)
		}
		msgs += len(m)
	}
	theirs := mallocs() - before
	t.Logf("genetlink.Conn.Receive: %d allocations for %d messages: %.1f per message (one datagram per call)",
		theirs, msgs, float64(theirs)/float64(msgs))
}
