package integration_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/internal/testbed"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// waitTimeout bounds every wait for the kernel's asynchronous work (subflows
// are created and removed within about a second) and for the sampler to
// report it. It is a deadline for giving up, not a measurement.
const waitTimeout = 60 * time.Second

// listen opens an mptcpx listener in the bed's server namespace, on every
// address and an ephemeral port, recording into tel; the test's cleanup
// closes it.
func listen(t testing.TB, b *testbed.Bed, tel *telemetry) net.Listener {
	t.Helper()
	var ln net.Listener
	err := b.Server.Do(func() (err error) {
		ln, err = mptcpx.Listen("tcp", ":0", tel.options()...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// target returns the address a client dials to reach ln: the server's
// address on path 0 and ln's port.
func target(b *testbed.Bed, ln net.Listener) netip.AddrPort {
	return netip.AddrPortFrom(b.ServerAddr(0), uint16(ln.Addr().(*net.TCPAddr).Port))
}

// dial connects from the bed's client namespace to to with an mptcpx Dialer
// recording into tel. The Dialer creates its socket during DialContext, so
// the call runs inside Client.Do. The test's cleanup closes the connection.
func dial(t testing.TB, b *testbed.Bed, tel *telemetry, to netip.AddrPort) *mptcpx.Conn {
	t.Helper()
	d := mptcpx.NewDialer(nil, tel.options()...)
	var c net.Conn
	err := b.Client.Do(func() (err error) {
		c, err = d.DialContext(context.Background(), "tcp", to.String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*mptcpx.Conn)
}

// accept accepts one connection on ln, which must be an mptcpx listener;
// the test's cleanup closes it.
func accept(t testing.TB, ln net.Listener) *mptcpx.Conn {
	t.Helper()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	mc, ok := c.(*mptcpx.Conn)
	if !ok {
		t.Fatalf("mptcpx listener accepted a %T, want *mptcpx.Conn", c)
	}
	return mc
}

// connect dials ln from the client namespace and accepts the connection:
// the two ends of one MPTCP connection.
func connect(t testing.TB, b *testbed.Bed, tel *telemetry, ln net.Listener) (client, server *mptcpx.Conn) {
	t.Helper()
	client = dial(t, b, tel, target(b, ln))
	server = accept(t, ln)
	if mp, err := client.MultipathTCP(); err != nil || !mp {
		t.Fatalf("client connection is not MPTCP: MultipathTCP() = %v, %v", mp, err)
	}
	return client, server
}

// digest is what went through one direction of a connection: how many bytes
// and their SHA-256.
type digest struct {
	n   int64
	sum [32]byte
}

// sender writes pseudo-random bytes to a connection and keeps their digest.
// Its methods are safe for concurrent use.
type sender struct {
	w   io.Writer
	mu  sync.Mutex
	h   hash.Hash
	n   int64
	rng io.Reader
}

func newSender(w io.Writer, seed byte) *sender {
	return &sender{w: w, h: sha256.New(), rng: rand.NewChaCha8([32]byte{seed})}
}

// send writes n more bytes.
func (s *sender) send(n int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := io.Copy(io.MultiWriter(s.w, s.h), io.LimitReader(s.rng, n))
	s.n += m
	return err
}

// sent returns how many bytes were written so far.
func (s *sender) sent() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

func (s *sender) digest() digest {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := digest{n: s.n}
	copy(d.sum[:], s.h.Sum(nil))
	return d
}

// received is the result of receive.
type received struct {
	digest
	err error
}

// receive reads r until EOF in the background and yields the digest of what
// it read.
func receive(r io.Reader) <-chan received {
	ch := make(chan received, 1)
	go func() {
		h := sha256.New()
		n, err := io.Copy(h, r)
		res := received{err: err}
		res.n = n
		copy(res.sum[:], h.Sum(nil))
		ch <- res
	}()
	return ch
}

// checkDigest compares what a receiver got with what was sent.
func checkDigest(t testing.TB, what string, got received, want digest) {
	t.Helper()
	if got.err != nil {
		t.Fatalf("%s: read: %v", what, got.err)
	}
	if got.digest != want {
		t.Fatalf("%s: received %d bytes (sha256 %x), sent %d (sha256 %x)", what, got.n, got.sum, want.n, want.sum)
	}
}

// halfClose ends the client's direction of a transfer: it half-closes c
// and checks that the receiver got exactly what s sent.
func halfClose(t testing.TB, c *mptcpx.Conn, s *sender, rcv <-chan received) {
	t.Helper()
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	checkDigest(t, "client to server", <-rcv, s.digest())
}

// waitInfo polls c.Info until cond holds and returns that snapshot. On
// timeout it fails t, quoting the last snapshot's subflows.
func waitInfo(t testing.TB, c *mptcpx.Conn, what string, cond func(*mptcpinfo.Snapshot) bool) *mptcpinfo.Snapshot {
	t.Helper()
	var snap *mptcpinfo.Snapshot
	err := testbed.WaitFor(waitTimeout, func() (bool, error) {
		var err error
		snap, err = c.Info()
		return err == nil && cond(snap), err
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v; last Info: %s", what, err, describe(snap))
	}
	return snap
}

// established returns the subflows of s in TCP state ESTABLISHED.
func established(s *mptcpinfo.Snapshot) []mptcpinfo.Subflow {
	var out []mptcpinfo.Subflow
	for _, sf := range s.Subflows {
		if sf.State() == tcpEstablished {
			out = append(out, sf)
		}
	}
	return out
}

// tcpEstablished is TCP_ESTABLISHED, tcp_info's state of a live subflow.
const tcpEstablished = 1

// describe summarizes a snapshot's subflows for error messages.
func describe(s *mptcpinfo.Snapshot) string {
	if s == nil {
		return "none"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d subflows:", len(s.Subflows))
	for _, sf := range s.Subflows {
		fmt.Fprintf(&b, " [id %d %s->%s state %d]", sf.ID, sf.Local, sf.Remote, sf.State())
	}
	return b.String()
}

// unmap turns an IPv4-mapped IPv6 address into IPv4: a listener on ":0" is
// a dual-stack IPv6 socket, so its IPv4 connections have mapped addresses.
func unmap(a netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(a.Addr().Unmap(), a.Port()) }

// addrPort returns a net.Addr of a TCP connection as an unmapped AddrPort.
func addrPort(a net.Addr) netip.AddrPort { return unmap(a.(*net.TCPAddr).AddrPort()) }
