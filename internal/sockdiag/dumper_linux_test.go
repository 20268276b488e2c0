package sockdiag

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mptcpx/mptcpx/internal/testenv"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// TestDumpAgreesWithGetsockopt: every socket of the test's connections,
// IPv4 and IPv6, appears once in a dump, under the cookie SO_COOKIE gives,
// with the mptcp_info getsockopt(MPTCP_INFO) returns for the same socket.
func TestDumpAgreesWithGetsockopt(t *testing.T) {
	testenv.CheckSockets(t)
	socks := append(openPairs(t, "tcp4", "127.0.0.1:0", 4), openPairs(t, "tcp6", "[::1]:0", 4)...)
	d := openDumper(t)
	var r mptcpinfo.Reader

	// A connection just accepted may still be settling (the peer's key,
	// the path manager): compare only what getsockopt reads the same
	// before and after the dump, and ask that all of it agree within a
	// few rounds.
	var mismatch error
	for round := 0; round < 20; round++ {
		before := make([]stable, len(socks))
		for i, o := range socks {
			var ok bool
			if before[i], ok = getsockoptInfo(t, &r, o); !ok {
				t.Skip("getsockopt(MPTCP_INFO) needs Linux 5.16: nothing to compare the dump with")
			}
		}
		m := dumpAll(t, d)
		mismatch = nil
		for i, o := range socks {
			e := m[o.cookie]
			if e == nil {
				t.Fatalf("socket %d (cookie %#x, %v) is not in the dump", i, o.cookie, o.conn.LocalAddr())
			}
			if e.times != 1 {
				t.Errorf("socket %d (cookie %#x) listed %d times", i, o.cookie, e.times)
			}
			wantFamily := uint8(unix.AF_INET)
			if o.conn.LocalAddr().(*net.TCPAddr).IP.To4() == nil {
				wantFamily = unix.AF_INET6
			}
			if e.Family != wantFamily || e.State != 1 /* ESTABLISHED */ {
				t.Errorf("socket %d: family %d state %d, want %d and 1", i, e.Family, e.State, wantFamily)
			}
			if e.InfoLen == 0 || e.Info.Token == 0 {
				t.Fatalf("socket %d: no mptcp_info in the dump (%d bytes, token %#x)", i, e.InfoLen, e.Info.Token)
			}
			after, _ := getsockoptInfo(t, &r, o)
			if after != before[i] {
				mismatch = fmt.Errorf("socket %d moved during the round", i)
				continue
			}
			if got := stableOf(&e.Info, e.InfoLen); got != after {
				mismatch = fmt.Errorf("socket %d: dump\n  %+v\ngetsockopt\n  %+v", i, got, after)
			}
		}
		if mismatch == nil {
			t.Logf("%d sockets agree", len(socks))
			t.Logf("MPTCPX-FEATURE sockdiag_mptcp_dump=yes (mptcp_info %d bytes)", m[socks[0].cookie].InfoLen)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal(mismatch)
}

// TestDumpSeesBytes: bytes written on a connection move write_seq, snd_una
// and the byte counters of the sender, rcv_nxt and bytes_received of the
// receiver, by exactly what was sent, in the next dump.
func TestDumpSeesBytes(t *testing.T) {
	testenv.CheckSockets(t)
	socks := openPairs(t, "tcp4", "127.0.0.1:0", 1)
	d := openDumper(t)
	client, server := socks[0], socks[1]
	if client.conn.RemoteAddr().String() != server.conn.LocalAddr().String() {
		client, server = server, client
	}
	first := dumpAll(t, d)
	c0, s0 := first[client.cookie].Socket, first[server.cookie].Socket

	const size = 100_000
	go func() {
		client.conn.Write(make([]byte, size))
	}()
	if _, err := io.ReadFull(server.conn, make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	// The sender's snd_una moves when the acknowledgement arrives, which
	// may be after the reader has the bytes.
	var c1, s1 Socket
	err := waitFor(5*time.Second, func() (bool, error) {
		m, err := tryDumpAll(d)
		if err != nil {
			return false, err
		}
		if m[client.cookie] == nil || m[server.cookie] == nil {
			return false, errors.New("a connection is missing from the dump")
		}
		c1, s1 = m[client.cookie].Socket, m[server.cookie].Socket
		return c1.Info.SndUna-c0.Info.SndUna == size, nil
	})
	if err != nil {
		t.Fatalf("snd_una moved by %d, want %d: %v", c1.Info.SndUna-c0.Info.SndUna, size, err)
	}
	if got := c1.Info.WriteSeq - c0.Info.WriteSeq; got != size {
		t.Errorf("client write_seq moved by %d, want %d", got, size)
	}
	if got := s1.Info.RcvNxt - s0.Info.RcvNxt; got != size {
		t.Errorf("server rcv_nxt moved by %d, want %d", got, size)
	}
	if got := s1.Info.WriteSeq - s0.Info.WriteSeq; got != 0 {
		t.Errorf("server write_seq moved by %d, want 0", got)
	}
	if c1.Has(mptcpinfo.FieldBytes) {
		if got := c1.Info.BytesSent - c0.Info.BytesSent; got != size {
			t.Errorf("client bytes_sent moved by %d, want %d", got, size)
		}
		if got := c1.Info.BytesAcked - c0.Info.BytesAcked; got != size {
			t.Errorf("client bytes_acked moved by %d, want %d", got, size)
		}
		if got := s1.Info.BytesReceived - s0.Info.BytesReceived; got != size {
			t.Errorf("server bytes_received moved by %d, want %d", got, size)
		}
	}
}

// TestDumpClosed: closed sockets leave the dump (the kernel drops an MPTCP
// socket's token when it frees the socket, shortly after both ends closed
// on loopback); the others stay.
func TestDumpClosed(t *testing.T) {
	testenv.CheckSockets(t)
	socks := openPairs(t, "tcp4", "127.0.0.1:0", 3)
	d := openDumper(t)
	m := dumpAll(t, d)
	for _, o := range socks {
		if m[o.cookie] == nil {
			t.Fatalf("cookie %#x not in the first dump", o.cookie)
		}
	}
	// Close the first connection, both ends. (A socket closed while its
	// peer stays open lingers, orphaned in FIN_WAIT2, until the kernel
	// gives up on it: it stays listed, under its cookie, meanwhile.)
	closed := socks[0]
	var peer *own
	for _, o := range socks[1:] {
		if o.conn.LocalAddr().String() == closed.conn.RemoteAddr().String() &&
			o.conn.RemoteAddr().String() == closed.conn.LocalAddr().String() {
			peer = o
		}
	}
	if peer == nil {
		t.Fatal("no peer for the first socket")
	}
	closed.conn.Close()
	peer.conn.Close()
	err := waitFor(5*time.Second, func() (bool, error) {
		m, err := tryDumpAll(d)
		if err != nil {
			return false, err
		}
		for _, o := range socks {
			if o == closed || o == peer {
				continue
			}
			if m[o.cookie] == nil {
				return false, fmt.Errorf("open socket %#x is missing", o.cookie)
			}
		}
		return m[closed.cookie] == nil && m[peer.cookie] == nil, nil
	})
	if err != nil {
		t.Fatalf("closed sockets still listed: %v", err)
	}
}

// TestDumpFamily: each request lists the sockets of its family only.
func TestDumpFamily(t *testing.T) {
	testenv.CheckSockets(t)
	v4 := openPairs(t, "tcp4", "127.0.0.1:0", 2)
	v6 := openPairs(t, "tcp6", "[::1]:0", 2)
	d := openDumper(t)
	for _, tc := range []struct {
		family      int
		want, other []*own
	}{{unix.AF_INET, v4, v6}, {unix.AF_INET6, v6, v4}} {
		got := map[uint64]bool{}
		n, err := d.DumpFamily(tc.family, func(s *Socket) {
			if int(s.Family) != tc.family {
				t.Errorf("DumpFamily(%d) listed a socket of family %d", tc.family, s.Family)
			}
			got[s.Cookie] = true
		})
		if err != nil || n < len(tc.want) {
			t.Fatalf("DumpFamily(%d) = %d, %v", tc.family, n, err)
		}
		for _, o := range tc.want {
			if !got[o.cookie] {
				t.Errorf("DumpFamily(%d) misses %v", tc.family, o.conn.LocalAddr())
			}
		}
		for _, o := range tc.other {
			if got[o.cookie] {
				t.Errorf("DumpFamily(%d) lists %v", tc.family, o.conn.LocalAddr())
			}
		}
	}
	if _, err := d.DumpFamily(unix.AF_UNIX, func(*Socket) {}); err == nil {
		t.Error("DumpFamily(AF_UNIX) succeeded")
	}
}

// TestDumpAllocs: a dump in steady state allocates nothing, with sockets
// to decode in several datagrams.
func TestDumpAllocs(t *testing.T) {
	testenv.CheckSockets(t)
	socks := openPairs(t, "tcp4", "127.0.0.1:0", 200)
	d := openDumper(t)
	var n int
	count := func(*Socket) { n++ }
	allocs := testenv.SteadyAllocs(50, func() {
		n = 0
		if _, err := d.Dump(count); err != nil {
			t.Fatal(err)
		}
	})
	if n < len(socks) {
		t.Fatalf("a dump listed %d sockets, want at least %d", n, len(socks))
	}
	if allocs != 0 {
		t.Errorf("Dump allocates %.1f times per call, want 0", allocs)
	}
}

// TestCallbackPanics: a callback that panics in the middle of a dump
// leaves the rest of the kernel's answer queued; the next dump drains it
// and lists every socket.
func TestCallbackPanics(t *testing.T) {
	testenv.CheckSockets(t)
	// Enough sockets for several datagrams, so that the panic comes
	// before the end of the answer.
	socks := openPairs(t, "tcp4", "127.0.0.1:0", 300)
	d := openDumper(t)
	for _, after := range []int{0, len(socks) - 1} {
		func() {
			defer func() {
				if v := recover(); v == nil {
					t.Fatal("the callback's panic did not reach the caller")
				}
			}()
			calls := 0
			d.Dump(func(*Socket) {
				if calls == after {
					panic("callback")
				}
				calls++
			})
		}()
		if after == 0 && d.pending == 0 {
			t.Fatal("the panic came after the end of the answer: the test needs more sockets")
		}
		m := dumpAll(t, d)
		for _, o := range socks {
			if m[o.cookie] == nil {
				t.Fatalf("after a panic at socket %d: cookie %#x missing", after, o.cookie)
			}
		}
	}
}

// TestClose: a closed Dumper refuses to dump; Close is idempotent.
func TestClose(t *testing.T) {
	testenv.RequireMPTCP(t)
	d, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := d.Dump(func(*Socket) {}); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Dump after Close: %v, want os.ErrClosed", err)
	}
	var zero Dumper
	if _, err := zero.Dump(func(*Socket) {}); err == nil {
		t.Error("Dump on a zero Dumper succeeded")
	}
	if err := zero.Close(); err != nil {
		t.Errorf("Close of a zero Dumper: %v", err)
	}
}

// TestCookie: SO_COOKIE is distinct per socket and stable; it fails on a
// closed connection and on a nil RawConn.
func TestCookie(t *testing.T) {
	testenv.CheckSockets(t)
	socks := openPairs(t, "tcp4", "127.0.0.1:0", 2)
	got := map[uint64]bool{}
	for _, o := range socks {
		if got[o.cookie] {
			t.Errorf("cookie %#x twice", o.cookie)
		}
		got[o.cookie] = true
		again, err := Cookie(o.rc)
		if err != nil || again != o.cookie {
			t.Errorf("Cookie again: %#x, %v; first %#x", again, err, o.cookie)
		}
	}
	socks[0].conn.Close()
	if _, err := Cookie(socks[0].rc); err == nil {
		t.Error("Cookie of a closed connection succeeded")
	}
	if _, err := Cookie(nil); err == nil {
		t.Error("Cookie(nil) succeeded")
	}
}

// TestWithoutMPTCP: on a kernel without MPTCP (Debian's 5.10 in the kernel
// matrix) Open fails with ErrUnsupported, which matches
// errors.ErrUnsupported.
func TestWithoutMPTCP(t *testing.T) {
	testenv.RequireNoMPTCP(t)
	d, err := Open()
	if err == nil {
		d.Close()
		t.Fatal("Open succeeded on a kernel without MPTCP")
	}
	if !errors.Is(err, ErrUnsupported) || !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("Open: %v, want ErrUnsupported", err)
	}
	t.Logf("MPTCPX-FEATURE sockdiag_mptcp_dump=no (%v)", err)
}

// TestDumpFallback: a connection that fell back to TCP at the handshake
// stays listed on the side that opened it as MPTCP, with FlagFallback set
// (where getsockopt(SOL_MPTCP) fails), while the plain TCP socket an MPTCP
// listener accepts from a TCP client is not an MPTCP socket and is not
// listed.
func TestDumpFallback(t *testing.T) {
	testenv.CheckSockets(t)
	testenv.RequireMPTCP(t)
	var plain net.ListenConfig
	plain.SetMultipathTCP(false) // Go's listeners ask for MPTCP by default since 1.24
	ln, err := plain.Listen(context.Background(), "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	mptcpLn := testenv.ListenMPTCP(t, "tcp4", "127.0.0.1:0")

	var mptcpDialer, tcpDialer net.Dialer
	mptcpDialer.SetMultipathTCP(true)
	tcpDialer.SetMultipathTCP(false)
	dial := func(d *net.Dialer, l net.Listener) (client, server *own) {
		accepted := make(chan net.Conn, 1)
		go func() {
			c, _ := l.Accept()
			accepted <- c
		}()
		c, err := d.Dial("tcp4", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		s := <-accepted
		if s == nil {
			t.Fatal("accept failed")
		}
		t.Cleanup(func() { s.Close() })
		return newOwn(t, c.(*net.TCPConn)), newOwn(t, s.(*net.TCPConn))
	}
	fellBack, plainServer := dial(&mptcpDialer, ln)
	plainClient, acceptedPlain := dial(&tcpDialer, mptcpLn)
	if mp, err := fellBack.conn.MultipathTCP(); err != nil || mp {
		t.Fatalf("the MPTCP client of a TCP listener: MultipathTCP() = %v, %v", mp, err)
	}

	m := dumpAll(t, openDumper(t))
	e := m[fellBack.cookie]
	if e == nil {
		t.Fatal("the fallen-back MPTCP client is not listed")
	}
	if e.Info.Flags&mptcpinfo.FlagFallback == 0 {
		t.Errorf("the fallen-back client's flags are %#x, without FlagFallback", e.Info.Flags)
	}
	for _, o := range []*own{plainServer, plainClient, acceptedPlain} {
		if m[o.cookie] != nil {
			t.Errorf("plain TCP socket %v is listed", o.conn.LocalAddr())
		}
	}
}
