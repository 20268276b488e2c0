package integration_test

import (
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/mptcpx/mptcpx/internal/oteltest"
	"github.com/mptcpx/mptcpx/internal/testenv"

	"go.opentelemetry.io/otel/attribute"
	"go.uber.org/goleak"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/internal/testbed"
)

// manyConnsHere is how many connections TestManyConnections keeps open at
// once: 500 on a real machine, 100 inside the kernel matrix, whose virtual
// machines emulate one CPU in software.
func manyConnsHere() int {
	if testenv.KernelMatrix() {
		return 100
	}
	return 500
}

// TestManyConnections opens manyConns connections over two paths at once,
// both ends mptcpx, and takes path 1 away and back twice: while every
// connection is sending, and while all are idle. The subflow gauges follow
// (one subflow per connection per path while the path is there), every
// byte arrives, and once everything is closed nothing is left: no
// connection or subflow counted as active, as many subflows closed as
// opened, no goroutine, no socket.
func TestManyConnections(t *testing.T) {
	manyConns := manyConnsHere()
	b := testbed.New(t, testbed.Config{Paths: 2})
	tel := newTelemetry(t)
	testenv.Settle()
	socketsBefore := testenv.OpenSockets(t)
	start := time.Now()
	phase := func(what string) {
		t.Logf("%6v %s", time.Since(start).Round(time.Millisecond), what)
	}

	ln := listen(t, b, tel)
	type served struct {
		n   int64
		err error
	}
	servers := make(chan *mptcpx.Conn, manyConns)
	results := make(chan served, manyConns)
	go func() {
		for range manyConns {
			c, err := ln.Accept()
			if err != nil {
				results <- served{err: err}
				return
			}
			sc := c.(*mptcpx.Conn)
			servers <- sc
			go func() {
				n, err := io.Copy(io.Discard, sc)
				results <- served{n, err}
			}()
		}
	}()

	d := mptcpx.NewDialer(nil, tel.options()...)
	to := target(b, ln).String()
	clients := make([]*mptcpx.Conn, 0, manyConns)
	t.Cleanup(func() {
		for _, c := range clients {
			c.Close()
		}
	})
	err := b.Client.Do(func() error {
		for range manyConns {
			c, err := d.DialContext(context.Background(), "tcp", to)
			if err != nil {
				return err
			}
			clients = append(clients, c.(*mptcpx.Conn))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	accepted := make([]*mptcpx.Conn, 0, manyConns)
	t.Cleanup(func() {
		for _, c := range accepted {
			c.Close()
		}
	})
	for range manyConns {
		select {
		case c := <-servers:
			accepted = append(accepted, c)
		case r := <-results:
			t.Fatalf("accept: %v", r.err)
		case <-time.After(waitTimeout):
			t.Fatalf("%d connections accepted within %v, want %d", len(accepted), waitTimeout, manyConns)
		}
	}
	phase(fmt.Sprintf("%d connections open", manyConns))

	// Every client sends a little at a time until stopped: enough to make
	// the connections fully established (which brings the second
	// subflow) and keep them busy, not so much that the two cores do
	// nothing else.
	stop := make(chan struct{})
	written := make([]int64, manyConns)
	writeErrs := make(chan error, manyConns)
	var wg sync.WaitGroup
	msg := make([]byte, 4<<10)
	for i, c := range clients {
		wg.Go(func() {
			for {
				n, err := c.Write(msg)
				written[i] += int64(n)
				if err != nil {
					writeErrs <- err
					return
				}
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		})
	}
	stopped := false
	stopWriters := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	defer stopWriters()

	// subflowsPerConn waits until both ends count perConn subflows for
	// every connection.
	subflowsPerConn := func(perConn int, what string) {
		t.Helper()
		want := int64(perConn * manyConns)
		tel.waitSubflowsActive(t, want, want)
		phase(what)
	}
	subflowsPerConn(2, "two subflows each (busy)")
	for _, busy := range []bool{true, false} {
		state := "busy"
		if !busy {
			stopWriters()
			state = "idle"
		}
		if err := b.DeleteEndpoint(1); err != nil {
			t.Fatal(err)
		}
		subflowsPerConn(1, "path 1 deleted, one subflow each ("+state+")")
		if err := b.AddEndpoint(1); err != nil {
			t.Fatal(err)
		}
		subflowsPerConn(2, "path 1 added again, two subflows each ("+state+")")
	}
	select {
	case err := <-writeErrs:
		t.Fatalf("write: %v", err)
	default:
	}

	// Close: the clients end their direction, the servers read to EOF.
	var sent, got int64
	for i, c := range clients {
		sent += written[i]
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
	}
	for range manyConns {
		r := <-results
		if r.err != nil {
			t.Fatalf("server read: %v", r.err)
		}
		got += r.n
	}
	if got != sent {
		t.Errorf("the servers read %d bytes, the clients wrote %d", got, sent)
	}
	for _, c := range clients {
		c.Close()
	}
	for _, c := range accepted {
		c.Close()
	}
	ln.Close()
	phase("everything closed")

	sm := tel.Metrics(t)
	tel.CheckClosedGauges(t)
	for _, role := range []attribute.KeyValue{roleClient, roleServer} {
		r := role.Value.AsString()
		// The initial subflow, the first join, and one join each time
		// path 1 came back.
		if v := oteltest.Total(t, sm, "mptcp.subflow.opened", role); v != int64(4*manyConns) {
			t.Errorf("mptcp.subflow.opened{%s} = %d, want %d", r, v, 4*manyConns)
		}
		if v := oteltest.HistCount(t, sm, "mptcp.connection.duration", role); v != uint64(manyConns) {
			t.Errorf("mptcp.connection.duration{%s}: %d values, want %d", r, v, manyConns)
		}
		if v := oteltest.Total(t, sm, "mptcp.connection.fallbacks", role); v != 0 {
			t.Errorf("mptcp.connection.fallbacks{%s} = %d, want 0", r, v)
		}
		spans := tel.WaitSpans(role, manyConns)
		if len(spans) != manyConns {
			t.Errorf("%d %s spans ended, want %d", len(spans), r, manyConns)
		}
		for _, s := range spans {
			added, removed := len(oteltest.Events(s, "mptcp.subflow.added")), len(oteltest.Events(s, "mptcp.subflow.removed"))
			if added != 4 || removed != 2 {
				t.Errorf("a %s span has %d mptcp.subflow.added and %d mptcp.subflow.removed events, want 4 and 2", r, added, removed)
				break
			}
		}
	}

	testenv.Settle()
	goleak.VerifyNone(t)
	var sockets int
	err = testbed.WaitFor(waitTimeout, func() (bool, error) {
		sockets = testenv.OpenSockets(t)
		return sockets == socketsBefore, nil
	})
	if err != nil {
		t.Errorf("%d sockets open after everything was closed, %d before", sockets, socketsBefore)
	}
}
