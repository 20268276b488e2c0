package mptcpx_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/testenv"
)

// Hooks that call back: a hook may call any method of any connection, its
// own included, from any hook, and everything returns. These tests run on
// real loopback connections with the race detector in CI; a deadlock shows
// as a call that does not return within callTimeout.

const callTimeout = 10 * time.Second

// within fails t when fn does not return within callTimeout.
func within(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(callTimeout):
		t.Fatalf("%s did not return within %v: a deadlock", what, callTimeout)
	}
}

// sink accepts connections on ln and reads each to its end, then closes it.
func sink(t *testing.T, ln net.Listener) {
	t.Helper()
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				io.Copy(io.Discard, c)
				c.Close()
			})
		}
	})
}

// legHooks follows one leg of a proxy: when its connection ends (Closed) or
// at a sample (Sampled, when onSample), it closes the other leg, as a proxy
// closes the other side.
type legHooks struct {
	conntrace.NopConnHooks
	other    atomic.Pointer[mptcpx.Conn]
	onSample bool
	closed   atomic.Int32
	samples  atomic.Int32
}

func (h *legHooks) Sampled(s *conntrace.Sample) {
	h.samples.Add(1)
	if h.onSample && !s.First {
		if o := h.other.Load(); o != nil {
			o.Close()
		}
	}
}

func (h *legHooks) Closed(time.Time) {
	h.closed.Add(1)
	if o := h.other.Load(); o != nil {
		o.Close()
	}
}

// oneHooks hands out the ConnHooks it was given, to the next dial.
type oneHooks struct {
	conntrace.NopHooks
	next atomic.Pointer[legHooks]
}

func (o *oneHooks) DialStart(ctx context.Context, _ conntrace.DialStart) (context.Context, conntrace.ConnHooks) {
	return ctx, o.next.Load()
}

// TestHooksCloseEachOther: two connections whose hooks close each other's
// connection (a proxy closing the other leg), closed at the same time from
// two goroutines, or by the scheduler's goroutine from their Sampled hooks:
// every Close returns, each connection ends once, and the scheduler goes on
// sampling other connections.
func TestHooksCloseEachOther(t *testing.T) {
	testenv.RequireMPTCP(t)
	testenv.CheckSockets(t)
	ln, err := mptcpx.Listen("tcp", "127.0.0.1:0", mptcpx.WithoutTelemetry())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sink(t, ln)
	hooks := &oneHooks{}
	d := mptcpx.NewDialer(nil, mptcpx.WithoutTelemetry(), mptcpx.WithHooks(hooks), mptcpx.WithInterval(time.Millisecond))
	dial := func(h *legHooks) *mptcpx.Conn {
		hooks.next.Store(h)
		c, err := d.DialConn(context.Background(), "tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// A bystander whose samples must keep coming.
	by := &legHooks{}
	bc := dial(by)
	defer bc.Close()
	stop := make(chan struct{})
	var writing sync.WaitGroup
	defer writing.Wait()
	defer close(stop)
	writing.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
				bc.Write([]byte("x"))
			}
		}
	})

	for _, onSample := range []bool{false, true} {
		name := "closed"
		if onSample {
			name = "sampled"
		}
		t.Run(name, func(t *testing.T) {
			for range 50 {
				ha, hb := &legHooks{onSample: onSample}, &legHooks{onSample: onSample}
				a, b := dial(ha), dial(hb)
				ha.other.Store(b)
				hb.other.Store(a)
				if onSample {
					// Bytes on both: their next samples have news, and
					// the scheduler's goroutine closes them from Sampled.
					a.Write([]byte("x"))
					b.Write([]byte("x"))
					deadline := time.Now().Add(callTimeout)
					for (ha.closed.Load() == 0 || hb.closed.Load() == 0) && time.Now().Before(deadline) {
						time.Sleep(time.Millisecond)
					}
				}
				within(t, "Close of two legs closing each other", func() {
					var wg sync.WaitGroup
					wg.Go(func() { a.Close() })
					wg.Go(func() { b.Close() })
					wg.Wait()
				})
				if ha.closed.Load() != 1 || hb.closed.Load() != 1 {
					t.Fatalf("Closed called %d and %d times, want once each", ha.closed.Load(), hb.closed.Load())
				}
			}
			before := by.samples.Load()
			deadline := time.Now().Add(callTimeout)
			for by.samples.Load() < before+5 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if n := by.samples.Load() - before; n < 5 {
				t.Fatalf("the bystander got %d samples after the legs closed: the scheduler stopped", n)
			}
		})
	}
}

// callerHooks calls, from the hook named when, every method a program may
// call: on its own connection (Info, SetDeadline, CloseWrite and, last,
// Close) and on another (Read, Write, Info, Close).
type callerHooks struct {
	conntrace.NopConnHooks
	when       string
	own, other atomic.Pointer[mptcpx.Conn]
	calls      atomic.Int32
}

func (h *callerHooks) call() {
	defer h.calls.Add(1)
	own, other := h.own.Load(), h.other.Load()
	if own != nil {
		own.Info()
		own.SetDeadline(time.Now().Add(time.Second))
		own.CloseWrite()
	}
	if other != nil {
		other.SetReadDeadline(time.Now().Add(time.Millisecond))
		other.Read(make([]byte, 1))
		other.Write([]byte("x"))
		other.Info()
		other.Close()
	}
	if own != nil {
		own.Close()
	}
}

func (h *callerHooks) Established(c net.Conn, _ time.Time) {
	h.own.Store(c.(*mptcpx.Conn))
	if h.when == "established" {
		h.call()
	}
}

func (h *callerHooks) Sampled(s *conntrace.Sample) {
	if h.when == "sampled" && !s.First && !s.Final {
		h.call()
	}
}

func (h *callerHooks) Closed(time.Time) {
	if h.when == "closed" {
		h.call()
	}
}

type callerTracer struct {
	conntrace.NopHooks
	next atomic.Pointer[callerHooks]
}

func (o *callerTracer) DialStart(ctx context.Context, _ conntrace.DialStart) (context.Context, conntrace.ConnHooks) {
	return ctx, o.next.Load()
}

// TestHooksCallAnyMethod: from Established, Sampled and Closed, a hook calls
// the methods of its own connection (Info, SetDeadline, CloseWrite: a
// request-only client half-closing at once, then Close) and of another
// (Read, Write, Info, Close). Dial and Close return, and both connections
// end once.
func TestHooksCallAnyMethod(t *testing.T) {
	testenv.RequireMPTCP(t)
	testenv.CheckSockets(t)
	ln, err := mptcpx.Listen("tcp", "127.0.0.1:0", mptcpx.WithoutTelemetry())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sink(t, ln)
	tracer := &callerTracer{}
	d := mptcpx.NewDialer(nil, mptcpx.WithoutTelemetry(), mptcpx.WithHooks(tracer), mptcpx.WithInterval(time.Millisecond))
	plain := mptcpx.NewDialer(nil, mptcpx.WithoutTelemetry())
	for _, when := range []string{"established", "sampled", "closed"} {
		t.Run(when, func(t *testing.T) {
			other, err := plain.DialConn(context.Background(), "tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			h := &callerHooks{when: when}
			h.other.Store(other)
			tracer.next.Store(h)
			var c *mptcpx.Conn
			within(t, "Dial", func() {
				c, err = d.DialConn(context.Background(), "tcp", ln.Addr().String())
			})
			if err != nil {
				t.Fatal(err)
			}
			if when == "sampled" {
				c.Write([]byte("x"))
				deadline := time.Now().Add(callTimeout)
				for h.calls.Load() == 0 && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
			}
			within(t, "Close", func() { c.Close() })
			if h.calls.Load() != 1 {
				t.Fatalf("the %s hook ran %d times, want once", when, h.calls.Load())
			}
			if _, err := other.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
				t.Errorf("the other connection after the hook closed it: Write error %v, want net.ErrClosed", err)
			}
		})
	}
}

// TestEstablishedCloseWrite: a request-only client half-closes in its
// Established hook; Dial returns, and the peer reads the end of the
// stream.
func TestEstablishedCloseWrite(t *testing.T) {
	testenv.RequireMPTCP(t)
	testenv.CheckSockets(t)
	ln, err := mptcpx.Listen("tcp", "127.0.0.1:0", mptcpx.WithoutTelemetry())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	h := &halfCloser{}
	d := mptcpx.NewDialer(nil, mptcpx.WithoutTelemetry(), mptcpx.WithHooks(h))
	var c net.Conn
	within(t, "Dial with CloseWrite in Established", func() {
		c, err = d.Dial("tcp", ln.Addr().String())
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetReadDeadline(time.Now().Add(callTimeout))
	if n, err := s.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("the peer read %d bytes, %v; want the end of the stream", n, err)
	}
	if err := h.err.Load(); err != nil {
		t.Fatalf("CloseWrite in Established: %v", *err)
	}
}

type halfCloser struct {
	conntrace.NopHooks
	conntrace.NopConnHooks
	err atomic.Pointer[error]
}

func (h *halfCloser) DialStart(ctx context.Context, _ conntrace.DialStart) (context.Context, conntrace.ConnHooks) {
	return ctx, h
}

func (h *halfCloser) Established(c net.Conn, _ time.Time) {
	if err := c.(*mptcpx.Conn).CloseWrite(); err != nil {
		h.err.Store(&err)
	}
}
