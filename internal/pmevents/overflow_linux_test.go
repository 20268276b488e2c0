package pmevents

import (
	"errors"
	"os"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mptcpx/mptcpx/internal/testbed"
	"github.com/mptcpx/mptcpx/internal/testenv"
)

// queuedBytes returns the memory the kernel charges for the datagrams
// queued on l's socket (SO_MEMINFO, SK_MEMINFO_RMEM_ALLOC: the sum of the
// skbs' truesize), the figure it compares with the receive buffer.
func queuedBytes(t testing.TB, l *Listener) int {
	t.Helper()
	var info [unix.SK_MEMINFO_VARS]uint32
	size := uint32(unsafe.Sizeof(info))
	var errno unix.Errno
	err := l.raw.Control(func(fd uintptr) {
		_, _, errno = unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_SOCKET, unix.SO_MEMINFO,
			uintptr(unsafe.Pointer(&info[0])), uintptr(unsafe.Pointer(&size)), 0)
	})
	if err == nil && errno != 0 {
		err = errno
	}
	if err != nil {
		t.Fatalf("SO_MEMINFO: %v", err)
	}
	return int(info[unix.SK_MEMINFO_RMEM_ALLOC])
}

// churn opens and closes n connections from the client namespace, waiting
// for each connection's join (so that each gives CREATED, ESTABLISHED,
// SUB_ESTABLISHED and CLOSED on the client), and returns once the kernel
// has released them all.
func churn(t testing.TB, bed *testbed.Bed, srv *server, n int) {
	t.Helper()
	for range n {
		c := dial(t, bed, srv.port)
		token := tokenOf(t, c)
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
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
}

// drain calls Receive until a short deadline passes and returns the events
// and the non-fatal errors it returned.
func drain(t testing.TB, l *Listener) (events []Event, errs []error) {
	t.Helper()
	for {
		if err := l.SetReadDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		err := l.Receive(func(e *Event) { events = append(events, *e) })
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded):
			return events, errs
		case errors.Is(err, ErrLost) || errors.Is(err, ErrMalformed):
			errs = append(errs, err)
		default:
			t.Fatal(err)
		}
	}
}

// TestOverflow shrinks the receive buffer to the kernel's minimum, lets 20
// connections come and go without reading, then reads: Receive reports
// ErrLost once (the kernel's ENOBUFS), Stats counts it, the events still
// queued are delivered, and events after that arrive normally.
func TestOverflow(t *testing.T) {
	testenv.CheckSockets(t)
	bed := newBed(t, testbed.Config{Paths: 2})
	l := openIn(t, bed.Client)
	if err := l.SetReadBuffer(1); err != nil {
		t.Fatal(err)
	}
	rcvbuf, err := l.ReadBuffer()
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, bed, false)
	const conns = 20
	churn(t, bed, srv, conns)
	queued := queuedBytes(t, l)

	events, errs := drain(t, l)
	t.Logf("receive buffer %d bytes (SO_RCVBUF after asking for 1); %d bytes queued after %d connections; %d of %d events delivered; errors: %v",
		rcvbuf, queued, conns, len(events), 4*conns, errs)
	if len(errs) != 1 || !errors.Is(errs[0], ErrLost) {
		t.Errorf("Receive errors %v, want one ErrLost", errs)
	}
	if s := l.Stats(); s.Overflows != 1 || s.Events != uint64(len(events)) || s.Malformed != 0 {
		t.Errorf("Stats = %+v, want 1 overflow, %d events", s, len(events))
	}
	if len(events) == 0 || len(events) >= 4*conns {
		t.Errorf("%d events delivered, want some but fewer than %d", len(events), 4*conns)
	}

	// The Listener keeps working: a new connection's events arrive.
	c := dial(t, bed, srv.port)
	token := tokenOf(t, c)
	events, errs = drain(t, l)
	if len(errs) != 0 || len(events) == 0 || events[0].Kind != Created || events[0].Token != token {
		t.Errorf("after the overflow: events %v, errors %v; want CREATED of %08x first", events, errs, token)
	}
}

// TestQueuedEventCost measures what one queued event costs in the receive
// buffer, the figure that decides how many events a buffer holds
// (DefaultReadBuffer). It only logs.
func TestQueuedEventCost(t *testing.T) {
	bed := newBed(t, testbed.Config{Paths: 2})
	l := openIn(t, bed.Client)
	rcvbuf, err := l.ReadBuffer()
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, bed, false)
	churn(t, bed, srv, 10)
	queued := queuedBytes(t, l)
	events, errs := drain(t, l)
	if len(errs) != 0 || len(events) == 0 {
		t.Fatalf("%d events, errors %v", len(events), errs)
	}
	t.Logf("%d events queued in %d bytes: %d bytes each; a receive buffer of %d bytes (Open's default) holds about %d",
		len(events), queued, queued/len(events), rcvbuf, rcvbuf/(queued/len(events)))
}
