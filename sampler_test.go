package mptcpx_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/testenv"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// TestSamplerCountsEveryByte: the deltas the hooks receive over a
// connection's life add up to the kernel's final counters, on both ends, and
// the final sample comes exactly once, before Closed.
func TestSamplerCountsEveryByte(t *testing.T) {
	testenv.RequireMPTCP(t)
	testenv.CheckSockets(t)
	rec := &recorder{}
	opts := []mptcpx.Option{mptcpx.WithHooks(rec), mptcpx.WithInterval(5 * time.Millisecond)}
	ln, err := mptcpx.Listen("tcp", "127.0.0.1:0", opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const up, down = 3<<20 + 17, 1<<20 + 5
	done := make(chan error, 1)
	clientRead := make(chan struct{})
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		if _, err := io.CopyN(io.Discard, c, up); err != nil {
			c.Close()
			done <- err
			return
		}
		_, err = c.Write(make([]byte, down))
		// bytes_sent counts what reached a subflow, not what Write
		// queued: close only once the client has it all.
		<-clientRead
		if cerr := c.Close(); err == nil {
			err = cerr
		}
		done <- err
	}()
	c, err := mptcpx.NewDialer(nil, opts...).Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	// Write in pieces, slower than the interval, so periodic samples see
	// the bytes move.
	for i := 0; i < 8; i++ {
		n := up / 8
		if i == 7 {
			n = up - 7*(up/8)
		}
		if _, err := c.Write(make([]byte, n)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := io.ReadFull(c, make([]byte, down)); err != nil {
		t.Fatal(err)
	}
	close(clientRead)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c.Close()

	conns := rec.all()
	if len(conns) != 2 {
		t.Fatalf("%d connections traced, want 2", len(conns))
	}
	for _, cr := range conns {
		sent, recv, finals := cr.totals()
		cr.mu.Lock()
		first, last, n, after, closed := cr.samples[0], cr.samples[len(cr.samples)-1], len(cr.samples), cr.afterClose, cr.closed
		cr.mu.Unlock()
		if cr.role == conntrace.RoleServer {
			sent, recv = recv, sent
		}
		t.Logf("%v: %d samples", cr.role, n)
		if !closed || finals != 1 || !last.final || after != 0 {
			t.Errorf("%v: closed %v, %d final samples, last final %v, %d calls after Closed", cr.role, closed, finals, last.final, after)
		}
		if !first.first || len(first.added) != 1 || (mptcpinfo.KernelMethod() == mptcpinfo.MethodFullInfo && first.added[0] != 1) {
			t.Errorf("%v: first sample %+v", cr.role, first)
		}
		if mptcpinfo.KernelMethod() != mptcpinfo.MethodFullInfo {
			continue
		}
		if sent != up || recv != down {
			t.Errorf("%v: deltas add up to %d up / %d down, want %d / %d", cr.role, sent, recv, up, down)
		}
		if cr.role == conntrace.RoleClient && (last.connSent != up || last.connRecv != down) {
			t.Errorf("client final counters %d/%d", last.connSent, last.connRecv)
		}
		if last.subflowsMax != 1 {
			t.Errorf("%v: subflows max %d", cr.role, last.subflowsMax)
		}
	}
	// The client saw the transfer over several samples, not only at the end.
	var moving int
	for _, s := range conns[0].samples {
		if s.sent > 0 && !s.final {
			moving++
		}
	}
	if moving < 2 {
		t.Errorf("only %d periodic samples saw bytes move", moving)
	}
}

func TestSamplerFallback(t *testing.T) {
	testenv.RequireMPTCP(t)
	if mptcpinfo.KernelMethod() == mptcpinfo.MethodProtocol {
		testenv.Skip(t, "kernel before 5.16 cannot see a client-side fallback")
	}
	testenv.CheckSockets(t)
	rec := &recorder{}
	ln := plainListen(t)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	c, err := mptcpx.NewDialer(nil, mptcpx.WithHooks(rec)).Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("plain"))
	c.Close()
	cr := rec.all()[0]
	first := cr.samples[0]
	if first.fallback != conntrace.FallbackNotNegotiated || !first.fallbackNew || len(first.added) != 0 {
		t.Fatalf("first sample of a fallback: %+v", first)
	}
	for _, s := range cr.samples[1:] {
		if s.fallbackNew || s.fallback != conntrace.FallbackNotNegotiated {
			t.Fatalf("later sample: %+v", s)
		}
	}
	// And a plain client to an mptcpx listener.
	rec2 := &recorder{}
	mln, err := mptcpx.Listen("tcp", "127.0.0.1:0", mptcpx.WithHooks(rec2))
	if err != nil {
		t.Fatal(err)
	}
	defer mln.Close()
	go func() {
		pc := plainDial(t, mln.Addr().String())
		pc.Close()
	}()
	sc, err := mln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	sc.Close()
	if s := rec2.all()[0].samples[0]; s.fallback != conntrace.FallbackNotNegotiated || !s.fallbackNew {
		t.Fatalf("server side of a plain client: %+v", s)
	}
}

// TestSamplerChurn opens and closes connections from 200 goroutines with a
// 1 ms interval: no panic, no leak, exactly one final sample per connection
// and none after Closed.
func TestSamplerChurn(t *testing.T) {
	testenv.RequireMPTCP(t)
	testenv.CheckSockets(t)
	d := 10 * time.Second
	if testing.Short() {
		d = 2 * time.Second
	}
	rec := &recorder{}
	opts := []mptcpx.Option{mptcpx.WithHooks(rec), mptcpx.WithInterval(time.Millisecond)}
	ln, err := mptcpx.Listen("tcp", "127.0.0.1:0", opts...)
	if err != nil {
		t.Fatal(err)
	}
	var serving sync.WaitGroup
	serving.Add(1)
	go func() {
		defer serving.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			serving.Add(1)
			go func() {
				defer serving.Done()
				io.Copy(io.Discard, c)
				c.Close()
			}()
		}
	}()
	dialer := mptcpx.NewDialer(nil, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var opened atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				c, err := dialer.DialContext(ctx, "tcp", ln.Addr().String())
				if err != nil {
					// Dials cut short by the end of the run are not errors.
					if dl, _ := ctx.Deadline(); time.Until(dl) > time.Second {
						errs <- err
					}
					return
				}
				opened.Add(1)
				c.Write([]byte("x"))
				if mc, ok := c.(*mptcpx.Conn); ok && opened.Load()%3 == 0 {
					mc.Info()
				}
				c.Close()
			}
		}()
	}
	wg.Wait()
	ln.Close()
	serving.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("dial: %v", err)
	}
	conns := rec.all()
	var clients, samples int
	for _, cr := range conns {
		_, _, finals := cr.totals()
		cr.mu.Lock()
		if cr.role == conntrace.RoleClient && cr.established {
			clients++
		}
		samples += len(cr.samples)
		if cr.established && (finals != 1 || !cr.closed || cr.afterClose != 0) {
			t.Errorf("%v connection: %d final samples, closed %v, %d calls after Closed", cr.role, finals, cr.closed, cr.afterClose)
		}
		cr.mu.Unlock()
	}
	if int64(clients) != opened.Load() {
		t.Errorf("%d client connections traced, %d opened", clients, opened.Load())
	}
	t.Logf("%d connections opened and closed in %v, %d samples", opened.Load(), d, samples)
	if opened.Load() < 200 {
		t.Errorf("only %d connections in %v", opened.Load(), d)
	}
}

func ExampleWithHooks() {
	ln, err := mptcpx.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	logger := &logTracer{}
	c, err := mptcpx.NewDialer(nil, mptcpx.WithHooks(logger)).Dial("tcp", ln.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	c.Close()
	fmt.Println(logger.events)
	// Output: [dial established first-sample final-sample closed]
}

// logTracer notes the hooks it receives, in order.
type logTracer struct{ events []string }

func (l *logTracer) DialStart(ctx context.Context, _ conntrace.DialStart) (context.Context, conntrace.ConnHooks) {
	l.events = append(l.events, "dial")
	return ctx, l
}
func (l *logTracer) Accepted(net.Conn, time.Time) conntrace.ConnHooks { return nil }
func (l *logTracer) DialFailed(error, time.Time)                      { l.events = append(l.events, "failed") }
func (l *logTracer) Established(net.Conn, time.Time)                  { l.events = append(l.events, "established") }
func (l *logTracer) Closed(time.Time)                                 { l.events = append(l.events, "closed") }
func (l *logTracer) Sampled(s *conntrace.Sample) {
	switch {
	case s.First:
		l.events = append(l.events, "first-sample")
	case s.Final:
		l.events = append(l.events, "final-sample")
	}
}
