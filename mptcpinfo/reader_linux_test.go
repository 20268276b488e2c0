package mptcpinfo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mptcpx/mptcpx/internal/testenv"
)

// pair is a connected client/server pair on loopback.
type pair struct {
	client, server *net.TCPConn
	ln             net.Listener
}

// dialPair opens a loopback connection. clientMPTCP and serverMPTCP choose
// whether each side asks for MPTCP.
func dialPair(t testing.TB, network string, clientMPTCP, serverMPTCP bool) *pair {
	t.Helper()
	testenv.RequireMPTCP(t)
	addr := "127.0.0.1:0"
	if network == "tcp6" {
		addr = "[::1]:0"
	}
	var lc net.ListenConfig
	lc.SetMultipathTCP(serverMPTCP)
	ln, err := lc.Listen(context.Background(), network, addr)
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	var d net.Dialer
	d.SetMultipathTCP(clientMPTCP)
	c, err := d.Dial(network, ln.Addr().String())
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.Fatal("accept failed")
	}
	p := &pair{client: c.(*net.TCPConn), server: s.(*net.TCPConn), ln: ln}
	t.Cleanup(func() { p.client.Close(); p.server.Close(); p.ln.Close() })
	return p
}

func read(t testing.TB, r *Reader, c syscall.Conn) *Snapshot {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var s Snapshot
	if err := r.Read(rc, &s); err != nil {
		t.Fatalf("Read: %v", err)
	}
	return &s
}

// methodsHere lists the rungs this kernel can be read with.
func methodsHere() []Method {
	switch KernelMethod() {
	case MethodFullInfo:
		return []Method{MethodFullInfo, MethodSplit}
	case MethodSplit:
		return []Method{MethodSplit}
	}
	return []Method{MethodProtocol}
}

func TestKernelMethodMatchesVersion(t *testing.T) {
	testenv.RequireMPTCP(t)
	major, minor := kernelVersion()
	want := methodForVersion(major, minor)
	if got := KernelMethod(); got != want {
		t.Fatalf("kernel %d.%d: probed %v, mainline has %v", major, minor, got, want)
	}
}

func TestParseRelease(t *testing.T) {
	for _, c := range []struct {
		in           string
		major, minor int
	}{{"6.18.44-fc-v669", 6, 18}, {"5.10.0-30-cloud-amd64", 5, 10}, {"6.1", 6, 1}, {"7", 7, 0}, {"", 0, 0}, {"x", 0, 0}} {
		if ma, mi := parseRelease(c.in); ma != c.major || mi != c.minor {
			t.Errorf("parseRelease(%q) = %d.%d, want %d.%d", c.in, ma, mi, c.major, c.minor)
		}
	}
}

// TestSelftest follows the kernel's mptcp_sockopt selftest: after the client
// writes W bytes and reads R, the counters say exactly that.
func TestSelftest(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6"} {
		for _, m := range methodsHere() {
			t.Run(fmt.Sprintf("%s/%v", network, m), func(t *testing.T) {
				testenv.RequireMPTCP(t)
				if m == MethodProtocol {
					t.Skip("kernel before 5.16: no SOL_MPTCP statistics, covered by TestProtocolOnly")
				}
				testSelftest(t, network, m)
			})
		}
	}
}

func testSelftest(t *testing.T, network string, m Method) {
	p := dialPair(t, network, true, true)
	r := &Reader{Method: m}
	before := read(t, r, p.client)
	if !before.MPTCP || before.Fallback || before.Method != m {
		t.Fatalf("fresh connection: MPTCP %v fallback %v method %v", before.MPTCP, before.Fallback, before.Method)
	}
	const W, R = 12345, 54321
	go func() {
		buf := make([]byte, W)
		io.ReadFull(p.server, buf)
		p.server.Write(make([]byte, R))
	}()
	if _, err := p.client.Write(make([]byte, W)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(p.client, make([]byte, R)); err != nil {
		t.Fatal(err)
	}
	// The peer's ACK of the last bytes may trail the data it sent.
	var s *Snapshot
	deadline := time.Now().Add(5 * time.Second)
	for {
		s = read(t, r, p.client)
		if !s.Has(FieldBytes) || s.Info.BytesAcked == W || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := s.Info.WriteSeq - before.Info.WriteSeq; got != W {
		t.Errorf("write_seq advanced by %d, wrote %d", got, W)
	}
	if s.Has(FieldBytes) {
		if s.Info.BytesSent != W || s.Info.BytesReceived != R || s.Info.BytesAcked != W {
			t.Errorf("bytes sent/received/acked = %d/%d/%d, want %d/%d/%d", s.Info.BytesSent, s.Info.BytesReceived, s.Info.BytesAcked, W, R, W)
		}
	}
	if s.Info.Token == 0 {
		t.Error("token is 0 on an established connection")
	}
	if s.NumSubflows != 1 || len(s.Subflows) != 1 {
		t.Fatalf("loopback connection has %d subflows (%d listed), want 1", s.NumSubflows, len(s.Subflows))
	}
	sf := s.Subflows[0]
	if want := p.client.LocalAddr().(*net.TCPAddr).AddrPort(); sf.Local != want {
		t.Errorf("subflow local %v, getsockname %v", sf.Local, want)
	}
	if want := p.client.RemoteAddr().(*net.TCPAddr).AddrPort(); sf.Remote != want {
		t.Errorf("subflow remote %v, getpeername %v", sf.Remote, want)
	}
	if m == MethodFullInfo && sf.ID != 1 {
		t.Errorf("first subflow id %d, want 1", sf.ID)
	}
	if m == MethodSplit && (sf.ID != 0 || s.Has(FieldSubflowID)) {
		t.Errorf("split rung reported subflow id %d", sf.ID)
	}
	if !s.Has(FieldTCPInfo) || s.TCPInfoLen < 224 {
		t.Fatalf("tcp_info length %d", s.TCPInfoLen)
	}
	// One subflow carried everything: its TCP-level counters equal the
	// MPTCP-level ones, but for the SYN, which the active opener's
	// tcp_info.bytes_acked counts (one byte).
	if d := sf.BytesAcked() - W; d > 1 || sf.BytesReceived() != R {
		t.Errorf("subflow bytes acked/received %d/%d, want %d/%d", sf.BytesAcked(), sf.BytesReceived(), W, R)
	}
	if s.Has(FieldBytes) && sf.BytesSent() != s.Info.BytesSent {
		t.Errorf("subflow bytes_sent %d, connection %d", sf.BytesSent(), s.Info.BytesSent)
	}
	if sf.State() != 1 {
		t.Errorf("subflow state %d, want ESTABLISHED (1)", sf.State())
	}
	if sf.RTT() <= 0 {
		t.Errorf("subflow rtt %v", sf.RTT())
	}
}

// TestFullInfoAgreesWithSplit reads the same idle connection both ways.
func TestFullInfoAgreesWithSplit(t *testing.T) {
	testenv.RequireMPTCP(t)
	if KernelMethod() != MethodFullInfo {
		t.Skip("kernel before 6.5: no MPTCP_FULL_INFO to compare")
	}
	for _, network := range []string{"tcp4", "tcp6"} {
		t.Run(network, func(t *testing.T) {
			p := dialPair(t, network, true, true)
			p.client.Write([]byte("hello"))
			io.ReadFull(p.server, make([]byte, 5))
			time.Sleep(20 * time.Millisecond)
			full := read(t, &Reader{Method: MethodFullInfo}, p.client)
			split := read(t, &Reader{Method: MethodSplit}, p.client)
			fi, si := full.Info, split.Info
			// last_* are "milliseconds ago" and move between the reads.
			fi.LastDataSent, fi.LastDataRecv, fi.LastAckRecv = 0, 0, 0
			si.LastDataSent, si.LastDataRecv, si.LastAckRecv = 0, 0, 0
			if fi != si || full.InfoLen != split.InfoLen {
				t.Errorf("mptcp_info differs:\nfull  %+v (%d)\nsplit %+v (%d)", fi, full.InfoLen, si, split.InfoLen)
			}
			if full.NumSubflows != split.NumSubflows || full.TCPInfoLen != split.TCPInfoLen {
				t.Fatalf("subflows %d/%d tcp_info %d/%d", full.NumSubflows, split.NumSubflows, full.TCPInfoLen, split.TCPInfoLen)
			}
			for i := range full.Subflows {
				f, s := full.Subflows[i], split.Subflows[i]
				if f.Local != s.Local || f.Remote != s.Remote {
					t.Errorf("subflow %d addresses %v-%v vs %v-%v", i, f.Local, f.Remote, s.Local, s.Remote)
				}
				if f.BytesSent() != s.BytesSent() || f.BytesReceived() != s.BytesReceived() || f.BytesAcked() != s.BytesAcked() || f.TCPInfo.SegsOut != s.TCPInfo.SegsOut {
					t.Errorf("subflow %d counters differ: %+v vs %+v", i, f.TCPInfo, s.TCPInfo)
				}
			}
		})
	}
}

func TestListener(t *testing.T) {
	ln := testenv.ListenMPTCP(t, "tcp", "")
	s := read(t, &Reader{}, ln)
	if KernelMethod() == MethodProtocol {
		if !s.MPTCP || s.Method != MethodProtocol {
			t.Fatalf("old kernel listener: %+v", s)
		}
		return
	}
	if !s.MPTCP || s.Fallback || s.Info.Token != 0 {
		t.Errorf("listener: MPTCP %v fallback %v token %d", s.MPTCP, s.Fallback, s.Info.Token)
	}
	if s.NumSubflows != 1 || s.Subflows[0].State() != 10 {
		t.Fatalf("listener: %d subflows, want 1 in LISTEN (10): %+v", s.NumSubflows, s.Subflows)
	}
	if want := ln.Addr().(*net.TCPAddr).AddrPort(); s.Subflows[0].Local != want {
		t.Errorf("listener subflow local %v, want %v", s.Subflows[0].Local, want)
	}
}

func TestUnconnectedSocket(t *testing.T) {
	testenv.RequireMPTCP(t)
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, IPPROTO_MPTCP)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	var s Snapshot
	if err := new(Reader).ReadFD(fd, &s); err != nil {
		t.Fatal(err)
	}
	if !s.MPTCP || s.Fallback {
		t.Fatalf("unconnected: MPTCP %v fallback %v", s.MPTCP, s.Fallback)
	}
	// Since 6.5 the first subflow is created at connect time; older
	// kernels create it with the socket and list it, in CLOSE state.
	if s.NumSubflows != len(s.Subflows) || len(s.Subflows) > 1 {
		t.Fatalf("unconnected: %d subflows (%d listed)", s.NumSubflows, len(s.Subflows))
	}
	for _, sf := range s.Subflows {
		if sf.State() != 7 || sf.Remote.Port() != 0 {
			t.Errorf("unconnected socket lists subflow %+v in state %d", sf.Remote, sf.State())
		}
	}
}

func TestNotASocket(t *testing.T) {
	var s Snapshot
	err := new(Reader).ReadFD(0x7fff, &s)
	if !errors.Is(err, unix.EBADF) {
		t.Fatalf("bad fd: %v", err)
	}
	if err := new(Reader).Read(nil, &s); err == nil {
		t.Fatal("nil RawConn accepted")
	}
}

// TestFallback: an MPTCP client to a plain TCP server falls back at the
// handshake; each side says so in its own way.
func TestFallback(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6"} {
		t.Run(network, func(t *testing.T) {
			p := dialPair(t, network, true, false)
			c := read(t, &Reader{}, p.client)
			s := read(t, &Reader{}, p.server)
			if s.MPTCP || s.Fallback || s.Protocol != unix.IPPROTO_TCP {
				t.Errorf("plain server side: MPTCP %v fallback %v protocol %d", s.MPTCP, s.Fallback, s.Protocol)
			}
			if KernelMethod() == MethodProtocol {
				// Before 5.16 the kernel cannot tell; never a false fallback.
				if c.Fallback {
					t.Errorf("old kernel: false fallback")
				}
				return
			}
			if c.MPTCP || !c.Fallback || c.Protocol != IPPROTO_MPTCP || c.NumSubflows != 0 {
				t.Errorf("client: MPTCP %v fallback %v protocol %d subflows %d", c.MPTCP, c.Fallback, c.Protocol, c.NumSubflows)
			}
			if c.Method != KernelMethod() {
				t.Errorf("client method %v", c.Method)
			}
		})
	}
}

// TestPlainClientToMPTCPListener: the accepting side of a connection whose
// client did not ask for MPTCP.
func TestPlainClientToMPTCPListener(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6"} {
		t.Run(network, func(t *testing.T) {
			p := dialPair(t, network, false, true)
			s := read(t, &Reader{}, p.server)
			if s.MPTCP {
				t.Errorf("server side of a plain client is MPTCP: %+v", s)
			}
			c := read(t, &Reader{}, p.client)
			if c.MPTCP || c.Fallback || c.Protocol != unix.IPPROTO_TCP {
				t.Errorf("plain client: MPTCP %v fallback %v protocol %d", c.MPTCP, c.Fallback, c.Protocol)
			}
			t.Logf("accepted from a plain client: protocol %d fallback %v", s.Protocol, s.Fallback)
		})
	}
}

func TestProtocolOnly(t *testing.T) {
	p := dialPair(t, "tcp4", true, true)
	s := read(t, &Reader{Method: MethodProtocol}, p.client)
	if s.Method != MethodProtocol || !s.MPTCP || s.Fallback || s.Protocol != IPPROTO_MPTCP || s.InfoLen != 0 || s.Has(FieldSubflowList) {
		t.Fatalf("protocol rung: %+v", s)
	}
}

func TestClosedConn(t *testing.T) {
	p := dialPair(t, "tcp4", true, true)
	rc, err := p.client.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	p.client.Close()
	var s Snapshot
	if err := new(Reader).Read(rc, &s); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("closed conn: %v", err)
	}
}

// TestGrowSlots: a Reader with no room grows and reads again; no subflow is
// missing from the answer.
func TestGrowSlots(t *testing.T) {
	p := dialPair(t, "tcp4", true, true)
	for _, m := range methodsHere() {
		if m == MethodProtocol {
			continue
		}
		r := &Reader{Method: m}
		r.growFull(0)
		r.growSplit(0)
		s := read(t, r, p.client)
		if s.NumSubflows != 1 || len(s.Subflows) != 1 || !s.Subflows[0].Local.IsValid() {
			t.Fatalf("%v after growth: %d subflows %+v", m, s.NumSubflows, s.Subflows)
		}
	}
}

func TestReadAllocs(t *testing.T) {
	p := dialPair(t, "tcp4", true, true)
	rc, _ := p.client.SyscallConn()
	for _, m := range methodsHere() {
		r := &Reader{Method: m}
		var s Snapshot
		if err := r.Read(rc, &s); err != nil {
			t.Fatal(err)
		}
		if n := testenv.SteadyAllocs(200, func() { r.Read(rc, &s) }); n != 0 {
			t.Errorf("%v: %v allocations per Read", m, n)
		}
	}
}

func TestDecodeSockaddrLoopback(t *testing.T) {
	// IPv4-mapped addresses on a dual-stack socket stay mapped.
	testenv.RequireMPTCP(t)
	var lc net.ListenConfig
	lc.SetMultipathTCP(true)
	ln, err := lc.Listen(context.Background(), "tcp", "[::]:0")
	if err != nil {
		t.Skip("no IPv6:", err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			time.Sleep(200 * time.Millisecond)
			c.Close()
		}
	}()
	var d net.Dialer
	d.SetMultipathTCP(true)
	port := ln.Addr().(*net.TCPAddr).Port
	c, err := d.Dial("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := read(t, &Reader{}, c.(*net.TCPConn))
	if KernelMethod() == MethodProtocol {
		return
	}
	if len(s.Subflows) != 1 || s.Subflows[0].Remote != netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)) {
		t.Fatalf("subflows %+v", s.Subflows)
	}
}
