package testbed

import (
	"context"
	"crypto/sha256"
	"hash"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"
)

// waitTimeout is the deadline for the kernel's asynchronous work (subflows
// are usually created or removed within a second).
const waitTimeout = 10 * time.Second

// listenMPTCP opens an MPTCP listener in the bed's server namespace on all
// addresses and an ephemeral port; the test's cleanup closes it.
func listenMPTCP(t *testing.T, b *Bed) net.Listener {
	t.Helper()
	var ln net.Listener
	err := b.Server.Do(func() (err error) {
		var lc net.ListenConfig
		lc.SetMultipathTCP(true)
		ln, err = lc.Listen(context.Background(), "tcp", ":0")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// dialMPTCP connects from the bed's client namespace to the server's address
// on path 0 and the listener's port; the test's cleanup closes the
// connection.
func dialMPTCP(t *testing.T, b *Bed, ln net.Listener) *net.TCPConn {
	t.Helper()
	to := netip.AddrPortFrom(b.ServerAddr(0), uint16(ln.Addr().(*net.TCPAddr).Port))
	var c net.Conn
	err := b.Client.Do(func() (err error) {
		var d net.Dialer
		d.SetMultipathTCP(true)
		c, err = d.Dial("tcp", to.String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	tc := c.(*net.TCPConn)
	if mp, err := tc.MultipathTCP(); err != nil || !mp {
		t.Fatalf("connection to %s is not MPTCP (MultipathTCP() = %v, %v)", to, mp, err)
	}
	return tc
}

// sink accepts one connection on ln and returns a channel that yields the
// SHA-256 and length of everything read from it until EOF.
type sinkResult struct {
	sum [32]byte
	n   int64
	err error
}

func sink(ln net.Listener) <-chan sinkResult {
	res := make(chan sinkResult, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			res <- sinkResult{err: err}
			return
		}
		defer c.Close()
		h := sha256.New()
		n, err := io.Copy(h, c)
		var r sinkResult
		copy(r.sum[:], h.Sum(nil))
		r.n, r.err = n, err
		res <- r
	}()
	return res
}

// stream writes pseudo-random bytes to a connection and remembers their
// SHA-256 and count.
type stream struct {
	c   *net.TCPConn
	h   hash.Hash
	n   int64
	rng io.Reader
}

func newStream(c *net.TCPConn, seed byte) *stream {
	return &stream{c: c, h: sha256.New(), rng: rand.NewChaCha8([32]byte{seed})}
}

// send writes n more bytes.
func (s *stream) send(t *testing.T, n int64) {
	t.Helper()
	m, err := io.Copy(io.MultiWriter(s.c, s.h), io.LimitReader(s.rng, n))
	s.n += m
	if err != nil {
		t.Fatalf("send: %v", err)
	}
}

// finish half-closes the connection and checks that the sink received
// exactly what was sent.
func (s *stream) finish(t *testing.T, res <-chan sinkResult) {
	t.Helper()
	if err := s.c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	r := <-res
	if r.err != nil {
		t.Fatalf("server read: %v", r.err)
	}
	var want [32]byte
	copy(want[:], s.h.Sum(nil))
	if r.n != s.n || r.sum != want {
		t.Fatalf("server got %d bytes (sha256 %x), want %d (sha256 %x)", r.n, r.sum, s.n, want)
	}
}

// clientConn returns the client's only MPTCP socket as ss -Mi shows it.
func clientConn(t *testing.T, b *Bed) MPTCPSocket {
	t.Helper()
	socks, err := b.Client.WaitMPTCP(waitTimeout, func(s []MPTCPSocket) bool { return len(s) == 1 })
	if err != nil {
		t.Fatal(err)
	}
	return socks[0]
}

// established returns the subflows of the connection token that are in
// state ESTAB.
func established(socks []TCPSocket, token uint32) []TCPSocket {
	var out []TCPSocket
	for _, s := range SubflowsOf(socks, token) {
		if s.State == "ESTAB" {
			out = append(out, s)
		}
	}
	return out
}

// waitSubflows waits until the client's connection token has n established
// subflows and returns them.
func waitSubflows(t *testing.T, b *Bed, token uint32, n int) []TCPSocket {
	t.Helper()
	start := time.Now()
	socks, err := b.Client.WaitTCP(waitTimeout, func(s []TCPSocket) bool { return len(established(s, token)) == n })
	if err != nil {
		t.Fatalf("waiting for %d subflows: %v", n, err)
	}
	t.Logf("%d subflows after %v", n, time.Since(start).Round(time.Millisecond))
	return established(socks, token)
}

// waitAcked waits until the subflows of the client's connection token have
// had at least n bytes acknowledged in all, and returns them.
func waitAcked(t *testing.T, b *Bed, token uint32, n int64) []TCPSocket {
	t.Helper()
	return waitAckedWithin(t, b, token, n, waitTimeout)
}

// waitAckedWithin is waitAcked with its own deadline.
func waitAckedWithin(t *testing.T, b *Bed, token uint32, n int64, timeout time.Duration) []TCPSocket {
	t.Helper()
	socks, err := b.Client.WaitTCP(timeout, func(s []TCPSocket) bool {
		var acked uint64
		for _, sf := range SubflowsOf(s, token) {
			acked += sf.BytesAcked
		}
		return acked >= uint64(n)
	})
	if err != nil {
		t.Fatalf("waiting for %d bytes acknowledged: %v", n, err)
	}
	return SubflowsOf(socks, token)
}
