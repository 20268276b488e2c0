package mptcpx_test

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/testenv"
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
