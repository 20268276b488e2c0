package mptcpx_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/testenv"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// closeTracer counts the hooks and checks their order.
type closeTracer struct {
	conn                   atomic.Pointer[mptcpx.Conn]
	closed, finals, failed atomic.Int32
	end                    atomic.Value // conntrace.End of the final sample
	finalBeforeClosed      atomic.Bool
}

func (ct *closeTracer) DialStart(ctx context.Context, _ conntrace.DialStart) (context.Context, conntrace.ConnHooks) {
	return ctx, ct
}
func (ct *closeTracer) Accepted(net.Conn, time.Time) conntrace.ConnHooks { return nil }
func (ct *closeTracer) DialFailed(error, time.Time)                      { ct.failed.Add(1) }
func (ct *closeTracer) Established(c net.Conn, _ time.Time)              { ct.conn.Store(c.(*mptcpx.Conn)) }
func (ct *closeTracer) Sampled(s *conntrace.Sample) {
	if s.Final {
		ct.finals.Add(1)
		ct.end.Store(s.End)
	}
}
func (ct *closeTracer) Closed(time.Time) {
	ct.closed.Add(1)
	ct.finalBeforeClosed.Store(ct.finals.Load() == 1)
}

// TestCloseTracksOnce closes one connection from several goroutines: the
// final sample and the Closed hook run exactly once, in that order.
func TestCloseTracksOnce(t *testing.T) {
	testenv.CheckSockets(t)
	ln := plainListen(t)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Close()
		}
	}()
	ct := &closeTracer{}
	c, err := mptcpx.NewDialer(nil, mptcpx.WithHooks(ct)).Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { c.Close() })
	}
	wg.Wait()
	if n := ct.closed.Load(); n != 1 {
		t.Errorf("Closed hook ran %d times, want 1", n)
	}
	if n := ct.finals.Load(); n != 1 {
		t.Errorf("%d final samples, want 1", n)
	}
	if !ct.finalBeforeClosed.Load() {
		t.Error("the Closed hook ran before the final sample")
	}
	if end, _ := ct.end.Load().(conntrace.End); end != conntrace.EndClose {
		t.Errorf("final sample: End = %v, want %v", end, conntrace.EndClose)
	}

	// A failed dial reports DialFailed and nothing else.
	ct = &closeTracer{}
	ln.Close()
	if _, err := mptcpx.NewDialer(nil, mptcpx.WithHooks(ct)).Dial("tcp", ln.Addr().String()); err == nil {
		t.Fatal("dial to a closed listener succeeded")
	}
	if ct.failed.Load() != 1 || ct.closed.Load() != 0 || ct.conn.Load() != nil {
		t.Errorf("failed dial: DialFailed %d, Closed %d, Established %v", ct.failed.Load(), ct.closed.Load(), ct.conn.Load() != nil)
	}
}

// finalHooks keeps the totals a connection's samples reported, and its
// final sample.
type finalHooks struct {
	conntrace.NopHooks
	conntrace.NopConnHooks
	mu                  sync.Mutex
	sent                uint64
	unsent, kernelSent  uint64
	discarded, finished bool
	samples             atomic.Int64
}

func (h *finalHooks) DialStart(ctx context.Context, _ conntrace.DialStart) (context.Context, conntrace.ConnHooks) {
	return ctx, h
}

func (h *finalHooks) Sampled(s *conntrace.Sample) {
	h.samples.Add(1)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sent += s.Sent
	if s.Final {
		h.unsent, h.discarded, h.finished = s.Unsent, s.UnsentDiscarded, true
		h.kernelSent = s.Snapshot.Info.BytesSent
	}
}

// stalledPeer returns a listener whose one accepted connection reads
// nothing (its receive buffer small), so that what the client writes stays
// queued; and the accepted connection, once there.
func stalledPeer(t *testing.T) (addr string, accepted <-chan net.Conn) {
	t.Helper()
	var lc net.ListenConfig
	lc.SetMultipathTCP(true)
	lc.Control = func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			t.Cleanup(func() { c.Close() })
			ch <- c
		}
	}()
	return ln.Addr().String(), ch
}

// fill writes to c until the kernel queues no more: a write of 64 KiB
// blocks for 300 ms.
func fill(t *testing.T, c *mptcpx.Conn) int {
	t.Helper()
	buf := make([]byte, 64<<10)
	total := 0
	for deadline := time.Now().Add(callTimeout); time.Now().Before(deadline); {
		c.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := c.Write(buf)
		total += n
		if err != nil && total > 0 {
			c.SetWriteDeadline(time.Time{})
			return total
		}
	}
	t.Fatalf("%d bytes written in %v", total, callTimeout)
	return 0
}

// TestAbortiveCloseDiscards: bytes still queued when the connection closes
// abortively (SO_LINGER with a zero timeout: the kernel resets the
// connection and discards them) are reported as unsent and discarded, and
// never counted as sent; after an orderly close the kernel goes on sending
// them, and they count as sent.
func TestAbortiveCloseDiscards(t *testing.T) {
	testenv.RequireMPTCP(t)
	if mptcpinfo.KernelMethod() != mptcpinfo.MethodFullInfo {
		t.Skip("the kernel's byte counters (6.5+) tell what was sent")
	}
	for _, abortive := range []bool{false, true} {
		t.Run(fmt.Sprintf("abortive=%v", abortive), func(t *testing.T) {
			addr, _ := stalledPeer(t)
			h := &finalHooks{}
			c, err := mptcpx.NewDialer(nil, mptcpx.WithoutTelemetry(), mptcpx.WithHooks(h)).DialConn(context.Background(), "tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			written := uint64(fill(t, c))
			if abortive {
				c.SetLinger(0)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			if !h.finished || h.unsent == 0 {
				t.Fatalf("final sample: unsent %d (finished %v), want bytes still queued", h.unsent, h.finished)
			}
			switch {
			case abortive && (!h.discarded || h.sent != h.kernelSent || h.sent+h.unsent != written):
				t.Errorf("abortive: sent %d, unsent %d discarded %v, kernel sent %d, written %d; want sent = what the kernel sent, the rest discarded",
					h.sent, h.unsent, h.discarded, h.kernelSent, written)
			case !abortive && (h.discarded || h.sent != written):
				t.Errorf("orderly: sent %d, unsent %d discarded %v, written %d; want every byte written counted as sent",
					h.sent, h.unsent, h.discarded, written)
			}
		})
	}
}

// TestLingeringCloseBlocksOnlyItsCaller: a Close that lingers (SO_LINGER
// with a timeout, unsent data, a peer that reads nothing) blocks its caller
// until the kernel gives up, as with net.TCPConn; meanwhile the scheduler
// goes on sampling every other connection, and the close's result is
// Close's.
func TestLingeringCloseBlocksOnlyItsCaller(t *testing.T) {
	testenv.RequireMPTCP(t)
	addr, _ := stalledPeer(t)
	d := mptcpx.NewDialer(nil, mptcpx.WithoutTelemetry(), mptcpx.WithInterval(time.Millisecond))
	c, err := d.DialConn(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, c)
	const linger = 2
	if err := c.SetLinger(linger); err != nil {
		t.Fatal(err)
	}
	// A busy bystander at a short interval.
	ln, err := mptcpx.Listen("tcp", "127.0.0.1:0", mptcpx.WithoutTelemetry())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sink(t, ln)
	h := &finalHooks{}
	busy, err := mptcpx.NewDialer(nil, mptcpx.WithoutTelemetry(), mptcpx.WithHooks(h), mptcpx.WithInterval(time.Millisecond)).DialConn(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
				busy.Write([]byte("x"))
			}
		}
	}()
	defer close(stop)

	start := time.Now()
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	time.Sleep(500 * time.Millisecond)
	before := h.samples.Load()
	time.Sleep(500 * time.Millisecond)
	during := h.samples.Load() - before
	select {
	case err := <-closed:
		t.Fatalf("Close returned after %v (%v): it did not linger, the test proves nothing", time.Since(start), err)
	default:
	}
	if during < 10 {
		t.Errorf("the bystander got %d samples in 500 ms while a Close lingered, want it sampled every millisecond or so", during)
	}
	select {
	case err := <-closed:
		t.Logf("Close returned %v after %v", err, time.Since(start).Round(time.Millisecond))
	case <-time.After(linger*time.Second + callTimeout):
		t.Fatal("Close did not return")
	}
}
