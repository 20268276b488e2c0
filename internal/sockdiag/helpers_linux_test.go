package sockdiag

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/mptcpx/mptcpx/internal/testenv"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// own is a socket of this process: its connection, cookie and what
// getsockopt(MPTCP_INFO) says about it.
type own struct {
	conn   *net.TCPConn
	rc     syscall.RawConn
	cookie uint64
}

// openPairs opens n MPTCP connections to one MPTCP listener on address
// (network "tcp4" or "tcp6") and returns both ends of each, 2n sockets,
// closed when t ends.
func openPairs(t testing.TB, network, address string, n int) []*own {
	t.Helper()
	ln := testenv.ListenMPTCP(t, network, address)
	conns, err := dialPairs(ln, n)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	socks := make([]*own, len(conns))
	for i, c := range conns {
		socks[i] = newOwn(t, c)
	}
	return socks
}

// dialPairs dials n connections to ln and accepts them. It returns every
// connection it opened, also on error.
func dialPairs(ln *net.TCPListener, n int) ([]*net.TCPConn, error) {
	conns := make([]*net.TCPConn, 0, 2*n)
	accepted := make(chan *net.TCPConn, 64)
	acceptErr := make(chan error, 1)
	go func() {
		for range n {
			c, err := ln.AcceptTCP()
			if err != nil {
				acceptErr <- err
				return
			}
			accepted <- c
		}
		acceptErr <- nil
	}()
	d := net.Dialer{Timeout: 10 * time.Second}
	d.SetMultipathTCP(true)
	var dialErr error
	for range n {
		c, err := d.DialContext(context.Background(), ln.Addr().Network(), ln.Addr().String())
		if err != nil {
			dialErr = err
			break
		}
		conns = append(conns, c.(*net.TCPConn))
		// Take accepted connections as they come, so that the channel
		// never fills up.
		for drained := false; !drained; {
			select {
			case s := <-accepted:
				conns = append(conns, s)
			default:
				drained = true
			}
		}
	}
	if dialErr != nil {
		ln.Close()
	}
	for {
		select {
		case s := <-accepted:
			conns = append(conns, s)
			continue
		case err := <-acceptErr:
			for len(accepted) > 0 {
				conns = append(conns, <-accepted)
			}
			if dialErr != nil {
				return conns, dialErr
			}
			return conns, err
		}
	}
}

// newOwn reads c's cookie.
func newOwn(t testing.TB, c *net.TCPConn) *own {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	cookie, err := Cookie(rc)
	if err != nil {
		t.Fatal(err)
	}
	if cookie == 0 {
		t.Fatal("SO_COOKIE returned 0")
	}
	return &own{conn: c, rc: rc, cookie: cookie}
}

// openDumper opens a Dumper in the test's namespace, closed when t ends.
func openDumper(t testing.TB) *Dumper {
	t.Helper()
	d, err := Open()
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d
}

// seen is what a dump reported about one socket, and how many times.
type seen struct {
	Socket
	times int
}

// dumpAll dumps and indexes the sockets by cookie.
func dumpAll(t testing.TB, d *Dumper) map[uint64]*seen {
	t.Helper()
	m, err := tryDumpAll(d)
	if err != nil {
		t.Fatalf("Dump: %v", err)
	}
	return m
}

func tryDumpAll(d *Dumper) (map[uint64]*seen, error) {
	m := map[uint64]*seen{}
	n, err := d.Dump(func(s *Socket) {
		if e := m[s.Cookie]; e != nil {
			e.times++
			return
		}
		m[s.Cookie] = &seen{Socket: *s, times: 1}
	})
	if err != nil {
		return nil, err
	}
	total := 0
	for _, e := range m {
		total += e.times
	}
	if total != n {
		return nil, fmt.Errorf("Dump returned %d, the callback ran %d times", n, total)
	}
	return m, nil
}

// stable is the part of mptcp_info that does not change on an idle
// connection (the last_* ages do).
type stable struct {
	Token                                              uint32
	Flags                                              uint32
	Subflows, SubflowsTotal                            uint8
	WriteSeq, SndUna, RcvNxt                           uint64
	BytesSent, BytesReceived, BytesAcked, BytesRetrans uint64
	InfoLen                                            int
}

func stableOf(i *mptcpinfo.Info, n int) stable {
	return stable{
		Token: i.Token, Flags: i.Flags, Subflows: i.ExtraSubflows, SubflowsTotal: i.SubflowsTotal,
		WriteSeq: i.WriteSeq, SndUna: i.SndUna, RcvNxt: i.RcvNxt,
		BytesSent: i.BytesSent, BytesReceived: i.BytesReceived, BytesAcked: i.BytesAcked, BytesRetrans: i.BytesRetrans,
		InfoLen: n,
	}
}

// getsockoptInfo reads o's mptcp_info with getsockopt(MPTCP_INFO). ok is
// false on kernels that have no such option (before 5.16).
func getsockoptInfo(t testing.TB, r *mptcpinfo.Reader, o *own) (s stable, ok bool) {
	t.Helper()
	var snap mptcpinfo.Snapshot
	if err := r.ReadInfo(o.rc, &snap); err != nil {
		t.Fatalf("ReadInfo: %v", err)
	}
	if snap.Method != mptcpinfo.MethodInfo {
		return stable{}, false
	}
	return stableOf(&snap.Info, snap.InfoLen), true
}

// waitFor polls cond every 10 ms for up to timeout.
func waitFor(timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if ok || err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
