package mptcpx_test

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/internal/oteltest"
	"github.com/mptcpx/mptcpx/internal/testenv"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// slowReader reads c to the end and reports how much it read: slowly (a
// pause before each read) until slow is closed, or for the first 20 reads
// when slow is nil, then as fast as it can.
func slowReader(c net.Conn, pause time.Duration, slow <-chan struct{}) <-chan int64 {
	got := make(chan int64, 1)
	go func() {
		var n int64
		buf := make([]byte, 64<<10)
		for i := 0; ; i++ {
			switch {
			case slow == nil && i < 20:
				time.Sleep(pause)
			case slow != nil:
				select {
				case <-slow:
					slow = closedChan
				case <-time.After(pause):
				}
			}
			k, err := c.Read(buf)
			n += int64(k)
			if err != nil {
				break
			}
		}
		c.Close()
		got <- n
	}()
	return got
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// TestBytesQueuedAtClose: Write(4 MB) and Close at once, to a slow reader.
// The reader gets every byte; the client's mptcp.io counts every one, once,
// and the span says how many were still queued when Close was called.
func TestBytesQueuedAtClose(t *testing.T) {
	testenv.CheckSockets(t)
	tel := oteltest.New(t)
	c, s := otelPair(t, tel)
	// The reader stays slow until Close, behind a small receive buffer, so
	// that bytes are still queued when Close is called on any kernel and
	// machine (on a fast one, or in a slow virtual machine, a reader that
	// speeds up too soon or a large buffer takes everything in first).
	if err := s.SetReadBuffer(256 << 10); err != nil {
		t.Fatal(err)
	}
	closing := make(chan struct{})
	got := slowReader(s, 10*time.Millisecond, closing)
	const size = 4_000_000
	if n, err := c.Write(make([]byte, size)); err != nil || n != size {
		t.Fatalf("Write: %d, %v", n, err)
	}
	c.Close()
	close(closing)
	if n := <-got; n != size {
		t.Fatalf("the server read %d bytes, want %d", n, size)
	}
	waitSpans(t, tel, 2, 5*time.Second)
	sm := tel.Metrics(t)
	if v := oteltest.Total(t, sm, "mptcp.io", oteltest.RoleClient, oteltest.TransmitDir); v != size {
		t.Errorf("client mptcp.io transmit = %d, the program wrote %d", v, size)
	}
	if v := oteltest.Total(t, sm, "mptcp.io", oteltest.RoleServer, oteltest.ReceiveDir); v != size {
		t.Errorf("server mptcp.io receive = %d, it read %d", v, size)
	}
	cs := tel.Span(t, oteltest.RoleClient)
	unsent, ok := oteltest.Attr(cs.Attributes(), "mptcp.bytes.unsent")
	sent, _ := oteltest.Attr(cs.Attributes(), "mptcp.bytes.sent")
	t.Logf("client span: mptcp.bytes.sent %d, mptcp.bytes.unsent %d", sent.AsInt64(), unsent.AsInt64())
	if !ok || unsent.AsInt64() <= 0 || unsent.AsInt64() > size {
		t.Errorf("client span: mptcp.bytes.unsent = %v (present %v), want the bytes still queued at Close", unsent.AsInt64(), ok)
	}
	// With byte counters (6.5+), what was sent and what was queued add up
	// to what was written; before, unsent counts from what the peer
	// acknowledged, and there is no mptcp.bytes.sent.
	if mptcpinfo.KernelMethod() == mptcpinfo.MethodFullInfo && sent.AsInt64()+unsent.AsInt64() != size {
		t.Errorf("client span: mptcp.bytes.sent %d + mptcp.bytes.unsent %d != %d written", sent.AsInt64(), unsent.AsInt64(), size)
	}
	if d, ok := oteltest.Attr(cs.Attributes(), "mptcp.bytes.discarded"); ok {
		t.Errorf("client span: mptcp.bytes.discarded = %d after an orderly close", d.AsInt64())
	}
}

// TestBytesDiscardedAtAbortiveClose: with SO_LINGER 0, Close resets the
// connection and the kernel discards what is still queued: the span says
// how much (mptcp.bytes.discarded, the unsent bytes), and mptcp.io counts
// only what was sent, never the discarded bytes.
func TestBytesDiscardedAtAbortiveClose(t *testing.T) {
	if mptcpinfo.KernelMethod() != mptcpinfo.MethodFullInfo {
		t.Skip("the kernel's byte counters (6.5+) tell what was sent")
	}
	tel := oteltest.New(t)
	c, s := otelPair(t, tel)
	if err := s.SetReadBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	const size = 4_000_000
	c.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
	written, _ := c.Write(make([]byte, size)) // the peer reads nothing: part stays queued
	c.SetLinger(0)
	c.Close()
	s.Close()
	waitSpans(t, tel, 2, 5*time.Second)
	cs := tel.Span(t, oteltest.RoleClient)
	unsent, _ := oteltest.Attr(cs.Attributes(), "mptcp.bytes.unsent")
	discarded, ok := oteltest.Attr(cs.Attributes(), "mptcp.bytes.discarded")
	sent, _ := oteltest.Attr(cs.Attributes(), "mptcp.bytes.sent")
	t.Logf("wrote %d: mptcp.bytes.sent %d, unsent %d, discarded %d", written, sent.AsInt64(), unsent.AsInt64(), discarded.AsInt64())
	if !ok || discarded.AsInt64() <= 0 || discarded.AsInt64() != unsent.AsInt64() {
		t.Errorf("client span: mptcp.bytes.discarded = %d (present %v), mptcp.bytes.unsent = %d: want the queued bytes, discarded", discarded.AsInt64(), ok, unsent.AsInt64())
	}
	transmit := oteltest.Total(t, tel.Metrics(t), "mptcp.io", oteltest.RoleClient, oteltest.TransmitDir)
	if transmit != sent.AsInt64() || transmit+discarded.AsInt64() != int64(written) {
		t.Errorf("client mptcp.io transmit = %d, mptcp.bytes.sent %d, discarded %d, written %d: want mptcp.io = sent, and sent + discarded = written", transmit, sent.AsInt64(), discarded.AsInt64(), written)
	}
}

// TestBytesWhileClosing: twenty connections closed 20 ms after their
// writers started, while the writers are still writing. What the writers
// handed over, what the servers read and what mptcp.io counts on both sides
// are the same.
func TestBytesWhileClosing(t *testing.T) {
	testenv.RequireMPTCP(t)
	testenv.CheckSockets(t)
	tel := oteltest.New(t)
	opts := telOptions(tel, lifecycleInterval)
	ln, err := mptcpx.Listen("tcp", "127.0.0.1:0", opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const conns = 20
	var written, read atomic.Int64
	var wg sync.WaitGroup
	for range conns {
		c, err := mptcpx.NewDialer(nil, opts...).Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { read.Add(<-slowReader(s, time.Millisecond, nil)) })
		wg.Go(func() {
			buf := make([]byte, 256<<10)
			for {
				n, err := c.Write(buf)
				written.Add(int64(n))
				if err != nil {
					return
				}
			}
		})
		wg.Go(func() {
			time.Sleep(20 * time.Millisecond)
			c.Close()
		})
	}
	wg.Wait()
	waitSpans(t, tel, 2*conns, 5*time.Second)
	sm := tel.Metrics(t)
	tx := oteltest.Total(t, sm, "mptcp.io", oteltest.RoleClient, oteltest.TransmitDir)
	rx := oteltest.Total(t, sm, "mptcp.io", oteltest.RoleServer, oteltest.ReceiveDir)
	t.Logf("written %d, read %d, mptcp.io transmit %d, receive %d", written.Load(), read.Load(), tx, rx)
	if written.Load() != read.Load() {
		t.Fatalf("written %d, read %d", written.Load(), read.Load())
	}
	if tx != written.Load() || rx != read.Load() {
		t.Errorf("mptcp.io transmit %d, receive %d; want %d both", tx, rx, written.Load())
	}
}

// TestTokenSurvivesReset: the peer resets the connection (linger 0, then
// Close); the kernel zeroes the token at teardown, the span keeps the one
// the connection had. And a reset is not a fallback, although the kernel
// then refuses SOL_MPTCP as it does for a connection that fell back.
func TestTokenSurvivesReset(t *testing.T) {
	testenv.CheckSockets(t)
	tel := oteltest.New(t)
	c, s := otelPair(t, tel)
	info, err := c.Info()
	if err != nil || info.Info.Token == 0 {
		t.Fatalf("Info: token %x, %v", info.Info.Token, err)
	}
	s.SetLinger(0)
	s.Close()
	c.Read(make([]byte, 1)) // the reset
	time.Sleep(3 * lifecycleInterval)
	c.Close()
	span := tel.Span(t, oteltest.RoleClient)
	want := fmt.Sprintf("%08x", info.Info.Token)
	if v, _ := oteltest.Attr(span.Attributes(), "mptcp.token"); v.AsString() != want {
		t.Errorf("client span: mptcp.token = %q after the peer's reset, want %s", v.AsString(), want)
	}
	if v, _ := oteltest.Attr(span.Attributes(), "mptcp.fallback"); v.AsBool() || len(oteltest.Events(span, "mptcp.fallback")) != 0 {
		t.Errorf("client span: a reset reported as a fallback: %v", span.Events())
	}
}
