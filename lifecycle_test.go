package mptcpx_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/oteltest"
	"github.com/mptcpx/mptcpx/internal/testenv"
	"github.com/mptcpx/mptcpx/mptcpxotel"
)

// lifecycleInterval is short, so that "within one interval" is quick.
const lifecycleInterval = 20 * time.Millisecond

// otelPair returns both ends of a loopback MPTCP connection made by a
// Listener and a Dialer that record into tel. Nothing else keeps them.
func otelPair(t *testing.T, tel *oteltest.Telemetry, more ...mptcpx.Option) (client, server *mptcpx.Conn) {
	t.Helper()
	testenv.RequireMPTCP(t)
	opts := telOptions(tel, lifecycleInterval, more...)
	ln, err := mptcpx.Listen("tcp", "127.0.0.1:0", opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := mptcpx.NewDialer(nil, opts...).Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	return c.(*mptcpx.Conn), s.(*mptcpx.Conn)
}

// waitSpans waits until n mptcp.connection spans have ended.
func waitSpans(t *testing.T, tel *oteltest.Telemetry, n int, within time.Duration) []sdktrace.ReadOnlySpan {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		spans := append(tel.Spans(oteltest.RoleClient), tel.Spans(oteltest.RoleServer)...)
		if len(spans) >= n {
			return spans
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d connection spans ended after %v", len(spans), n, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func closeReason(s sdktrace.ReadOnlySpan) string {
	v, _ := oteltest.Attr(s.Attributes(), "mptcp.close.reason")
	return v.String()
}

// TestClosedUnderneath: a connection whose socket is closed without Close
// (through NetConn, or its descriptor after File) is ended by the sampler
// within an interval or two, as Close would: span ended once, gauges back
// to zero, sampler gone. A Close afterwards reports the closed socket and
// ends nothing twice.
func TestClosedUnderneath(t *testing.T) {
	testenv.CheckSockets(t)
	tel := oteltest.New(t)
	c, s := otelPair(t, tel)
	if err := c.NetConn().Close(); err != nil {
		t.Fatal(err)
	}
	f, err := s.File()
	if err != nil {
		t.Fatal(err)
	}
	s.NetConn().Close()
	f.Close()
	start := time.Now()
	spans := waitSpans(t, tel, 2, 10*lifecycleInterval)
	t.Logf("both spans ended %v after the sockets were closed underneath (interval %v)", time.Since(start), lifecycleInterval)
	for _, sp := range spans {
		if r := closeReason(sp); r != "closed_underneath" {
			t.Errorf("span ended with mptcp.close.reason=%q, want closed_underneath", r)
		}
	}
	tel.CheckClosedGauges(t)
	for _, conn := range []*mptcpx.Conn{c, s} {
		if err := conn.Close(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Close after the socket was closed underneath: %v, want an error wrapping net.ErrClosed", err)
		}
	}
	time.Sleep(3 * lifecycleInterval)
	if n := len(tel.Rec.Ended()); n != 2 {
		t.Errorf("%d spans ended, want 2", n)
	}
}

// TestDroppedConnsAreCollected: connections the program drops without Close
// are closed by the garbage collector, as net's are, and their telemetry
// ends with them.
func TestDroppedConnsAreCollected(t *testing.T) {
	testenv.RequireMPTCP(t)
	testenv.CheckSockets(t)
	before := testenv.OpenSockets(t)
	tel := oteltest.New(t)
	const n = 100
	func() {
		opts := telOptions(tel, time.Hour) // only the end can end them
		ln, err := mptcpx.Listen("tcp", "127.0.0.1:0", opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		d := mptcpx.NewDialer(nil, opts...)
		for range n {
			c, err := d.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			s, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			c.Write([]byte("x"))
			_ = s // dropped, like c
		}
	}()
	if open := testenv.OpenSockets(t) - before; open < 2*n {
		t.Fatalf("%d sockets open before the collection, want %d", open, 2*n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		testenv.Settle() // collects, and lets the path-event watcher go
		open := testenv.OpenSockets(t) - before
		ended := len(tel.Rec.Ended())
		if open == 0 && ended == 2*n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after collections: %d of %d dropped sockets still open, %d of %d spans ended", open, 2*n, ended, 2*n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, sp := range tel.Rec.Ended() {
		if r := closeReason(sp); r != "dropped" {
			t.Fatalf("span ended with mptcp.close.reason=%q, want dropped", r)
		}
	}
	tel.CheckClosedGauges(t)
}

// closingTracer calls Close from the hook named by when, on the connection
// the hooks follow, and counts what it sees.
type closingTracer struct {
	when     string // "established", "sampled", "closed"
	conn     atomic.Pointer[mptcpx.Conn]
	closeErr atomic.Value
	samples  atomic.Int32
	closed   atomic.Int32
	final    atomic.Int32
}

func (ct *closingTracer) DialStart(ctx context.Context, _ conntrace.DialStart) (context.Context, conntrace.ConnHooks) {
	return ctx, ct
}
func (ct *closingTracer) Accepted(net.Conn, time.Time) conntrace.ConnHooks { return nil }
func (ct *closingTracer) DialFailed(error, time.Time)                      {}
func (ct *closingTracer) Established(c net.Conn, _ time.Time) {
	ct.conn.Store(c.(*mptcpx.Conn))
	if ct.when == "established" {
		ct.closeErr.Store(fmt.Sprint(c.Close()))
	}
}
func (ct *closingTracer) Sampled(s *conntrace.Sample) {
	ct.samples.Add(1)
	if s.Final {
		ct.final.Add(1)
	}
	if ct.when == "sampled" && !s.First && !s.Final {
		ct.closeErr.Store(fmt.Sprint(ct.conn.Load().Close()))
	}
}
func (ct *closingTracer) Closed(time.Time) {
	ct.closed.Add(1)
	if ct.when == "closed" {
		ct.closeErr.Store(fmt.Sprint(ct.conn.Load().Close()))
	}
}

// TestHooksMayClose: a hook that closes its own connection hangs nothing:
// not Dial, not the sampler (which goes on sampling every other
// connection), not Close. The connection is closed once the hook returns,
// with one final sample and one Closed.
func TestHooksMayClose(t *testing.T) {
	testenv.RequireMPTCP(t)
	testenv.CheckSockets(t)
	ln, err := mptcpx.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				io.Copy(io.Discard, c)
				c.Close()
			}()
		}
	}()
	// A bystander on the same sampler, which must keep being sampled: it
	// keeps sending, so that every sample of it has news for its hooks.
	bystander := &closingTracer{}
	bc, err := mptcpx.NewDialer(nil, mptcpx.WithHooks(bystander), mptcpx.WithInterval(lifecycleInterval)).Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var sending sync.WaitGroup
	sending.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(lifecycleInterval / 4):
				bc.Write([]byte("x"))
			}
		}
	})
	defer func() {
		close(stop)
		sending.Wait()
		bc.Close()
	}()

	for _, when := range []string{"established", "sampled", "closed"} {
		t.Run(when, func(t *testing.T) {
			ct := &closingTracer{when: when}
			d := mptcpx.NewDialer(nil, mptcpx.WithHooks(ct), mptcpx.WithInterval(lifecycleInterval))
			dialed := make(chan net.Conn, 1)
			go func() {
				c, err := d.Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Error(err)
				}
				dialed <- c
			}()
			var c net.Conn
			select {
			case c = <-dialed:
			case <-time.After(10 * time.Second):
				t.Fatal("Dial hung")
			}
			if c == nil {
				return
			}
			if when == "sampled" {
				// Bytes to see: a sample with news is delivered.
				go func() {
					for {
						if _, err := c.Write([]byte("x")); err != nil {
							return
						}
						time.Sleep(lifecycleInterval / 4)
					}
				}()
			}
			if when != "established" {
				time.Sleep(5 * lifecycleInterval)
				if when == "closed" {
					closed := make(chan error, 1)
					go func() { closed <- c.Close() }()
					select {
					case <-closed:
					case <-time.After(10 * time.Second):
						t.Fatal("Close hung")
					}
				}
			}
			deadline := time.Now().Add(10 * time.Second)
			for ct.closed.Load() == 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if ct.closed.Load() != 1 || ct.final.Load() != 1 {
				t.Fatalf("Closed ran %d times, %d final samples; want 1 and 1", ct.closed.Load(), ct.final.Load())
			}
			if err, _ := ct.closeErr.Load().(string); when != "closed" && err != "<nil>" {
				t.Errorf("Close from the %s hook returned %s, want nil", when, err)
			}
			if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
				t.Errorf("Read after the hook closed the connection: %v, want net.ErrClosed", err)
			}
			if err := c.Close(); !errors.Is(err, net.ErrClosed) {
				t.Errorf("Close after the hook closed the connection: %v, want an error wrapping net.ErrClosed", err)
			}
			// The sampler goes on: the other connection is sampled again
			// (within a few intervals; a loaded machine may take longer,
			// a stuck sampler never does it).
			before := bystander.samples.Load()
			deadline = time.Now().Add(10 * time.Second)
			for bystander.samples.Load() == before && time.Now().Before(deadline) {
				time.Sleep(lifecycleInterval)
			}
			if bystander.samples.Load() == before {
				t.Error("the sampler stopped sampling the other connections")
			}
		})
	}
}

// TestZeroValues: a zero Conn, a zero Listener and NewListener(nil) fail
// with errors, never a nil dereference; a zero Dialer dials with the
// defaults, as a zero net.Dialer does.
func TestZeroValues(t *testing.T) {
	var c mptcpx.Conn
	v := reflect.ValueOf(&c)
	for i := range v.NumMethod() {
		m := v.Type().Method(i)
		args := make([]reflect.Value, m.Type.NumIn()-1)
		for j := range args {
			args[j] = reflect.Zero(m.Type.In(j + 1))
		}
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("zero Conn: %s panics: %v", m.Name, r)
				}
			}()
			v.Method(i).Call(args)
		}()
	}
	if _, err := c.Read(nil); !errors.Is(err, errEINVAL()) {
		t.Errorf("zero Conn: Read: %v, want EINVAL as from a zero net.TCPConn", err)
	}
	if _, err := c.Info(); err == nil {
		t.Error("zero Conn: Info succeeded")
	}

	ln := mptcpx.NewListener(nil)
	if _, err := ln.Accept(); err == nil || !strings.Contains(err.Error(), "NewListener(nil)") {
		t.Errorf("NewListener(nil).Accept: %v, want an error naming NewListener(nil)", err)
	}
	if err := ln.Close(); err == nil {
		t.Error("NewListener(nil).Close succeeded")
	}
	if a := ln.Addr(); a != nil {
		t.Errorf("NewListener(nil).Addr = %v", a)
	}
	if err := ln.SetDeadline(time.Now()); err == nil {
		t.Error("NewListener(nil).SetDeadline succeeded")
	}

	var zl mptcpx.Listener
	if _, err := zl.Accept(); err == nil {
		t.Error("zero Listener: Accept succeeded")
	}
	if _, err := zl.AcceptConn(); err == nil {
		t.Error("zero Listener: AcceptConn succeeded")
	}
	if err := zl.Close(); err == nil {
		t.Error("zero Listener: Close succeeded")
	}
	if a := zl.Addr(); a != nil {
		t.Errorf("zero Listener: Addr = %v", a)
	}
	if err := zl.SetDeadline(time.Now()); err == nil {
		t.Error("zero Listener: SetDeadline succeeded")
	}

	testenv.RequireMPTCP(t)
	real, err := mptcpx.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer real.Close()
	var zd mptcpx.Dialer
	dc, err := zd.Dial("tcp", real.Addr().String())
	if err != nil {
		t.Fatalf("zero Dialer: %v", err)
	}
	defer dc.Close()
	if ok, _ := dc.(*mptcpx.Conn).MultipathTCP(); !ok {
		t.Error("zero Dialer: the connection is not MPTCP, want MPTCP asked for as NewDialer(nil) does")
	}
	sc, err := real.AcceptConn()
	if err != nil {
		t.Fatal(err)
	}
	sc.Close()
}

// errEINVAL is what a zero net.TCPConn's Read returns.
func errEINVAL() error {
	var c net.TCPConn
	_, err := c.Read(nil)
	return err
}

// telOptions returns the options that make a Dialer or Listener record into
// tel and sample every interval, followed by more.
func telOptions(tel *oteltest.Telemetry, interval time.Duration, more ...mptcpx.Option) []mptcpx.Option {
	return append([]mptcpx.Option{
		mptcpx.WithTelemetry(mptcpxotel.WithTracerProvider(tel.TP), mptcpxotel.WithMeterProvider(tel.MP)),
		mptcpx.WithInterval(interval),
	}, more...)
}
