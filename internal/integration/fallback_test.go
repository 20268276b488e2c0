package integration_test

import (
	"context"
	"net"
	"testing"

	"go.opentelemetry.io/otel/attribute"

	"github.com/mptcpx/mptcpx/internal/oteltest"
	"github.com/mptcpx/mptcpx/internal/testbed"
)

// TestFallbackClient dials, with an mptcpx Dialer, a plain TCP listener in
// the server namespace: the server does not answer MP_CAPABLE, so the
// connection falls back to TCP at the handshake. The client's span gets an
// mptcp.fallback event, mptcp.connection.fallbacks counts it, no subflow
// is reported although the bed has a second path, and data crosses both
// ways intact.
func TestFallbackClient(t *testing.T) {
	b := testbed.New(t, testbed.Config{Paths: 2})
	tel := newTelemetry(t)
	var ln net.Listener
	err := b.Server.Do(func() (err error) {
		var lc net.ListenConfig
		lc.SetMultipathTCP(false)
		ln, err = lc.Listen(context.Background(), "tcp", ":0")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c := dial(t, b, tel, target(b, ln))
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if mp, err := c.MultipathTCP(); err != nil || mp {
		t.Errorf("client MultipathTCP() = %v, %v against a plain TCP server, want false", mp, err)
	}
	// The kernel's view agrees: the client's MPTCP socket is marked as
	// fallen back.
	if socks, err := b.Client.MPTCPSockets(); err != nil || len(socks) != 1 || !socks[0].Fallback {
		t.Errorf("ss -Mi in the client: %+v, %v; want one connection, fallen back", socks, err)
	}
	exchange(t, c, s.(*net.TCPConn))
	checkFallback(t, tel, roleClient, "not_negotiated")
}

// TestFallbackServer connects a plain TCP client (net.Dialer without MPTCP)
// to an mptcpx listener: the accepted connection is plain TCP, the server's
// span gets an mptcp.fallback event, mptcp.connection.fallbacks counts it,
// and data crosses both ways intact.
func TestFallbackServer(t *testing.T) {
	b := testbed.New(t, testbed.Config{Paths: 2})
	tel := newTelemetry(t)
	ln := listen(t, b, tel)
	var c net.Conn
	err := b.Client.Do(func() (err error) {
		var d net.Dialer
		d.SetMultipathTCP(false)
		c, err = d.Dial("tcp", target(b, ln).String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := accept(t, ln)
	if mp, err := s.MultipathTCP(); err != nil || mp {
		t.Errorf("server MultipathTCP() = %v, %v for a plain TCP client, want false", mp, err)
	}
	exchange(t, c.(*net.TCPConn), s)
	checkFallback(t, tel, roleServer, "not_negotiated")
}

// halfCloser is a connection that can end its sending direction.
type halfCloser interface {
	net.Conn
	CloseWrite() error
}

// exchange sends 2 MiB from c to s and 1 MiB back, checks both arrive
// intact, and closes both ends (c first).
func exchange(t *testing.T, c, s halfCloser) {
	t.Helper()
	up, down := receive(s), receive(c)
	cs, ss := newSender(c, 4), newSender(s, 5)
	errs := make(chan error, 1)
	go func() {
		err := ss.send(1 << 20)
		if err == nil {
			err = s.CloseWrite()
		}
		errs <- err
	}()
	if err := cs.send(2 << 20); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	checkDigest(t, "client to server", <-up, cs.digest())
	checkDigest(t, "server to client", <-down, ss.digest())
	c.Close()
	s.Close()
}

// checkFallback checks the telemetry of a test with one connection of role,
// closed, that was plain TCP for reason.
func checkFallback(t *testing.T, tel *telemetry, role attribute.KeyValue, reason string) {
	t.Helper()
	r := role.Value.AsString()
	span := tel.Span(t, role)
	fb := oteltest.Events(span, "mptcp.fallback")
	if len(fb) != 1 {
		t.Fatalf("%s span: %d mptcp.fallback events, want 1; events %v", r, len(fb), span.Events())
	}
	if v, _ := oteltest.Attr(fb[0].Attributes, "mptcp.fallback.reason"); v.AsString() != reason {
		t.Errorf("%s span: mptcp.fallback.reason = %q, want %s", r, v.String(), reason)
	}
	if n := len(oteltest.Events(span, "mptcp.subflow.added")); n != 0 {
		t.Errorf("%s span: %d mptcp.subflow.added events on a plain TCP connection", r, n)
	}
	if v, _ := oteltest.Attr(span.Attributes(), "mptcp.fallback"); !v.AsBool() {
		t.Errorf("%s span: mptcp.fallback = %s, want true", r, v.String())
	}

	sm := tel.Metrics(t)
	if v := oteltest.Total(t, sm, "mptcp.connection.fallbacks", role, attribute.String("mptcp.fallback.reason", reason)); v != 1 {
		t.Errorf("mptcp.connection.fallbacks{%s,%s} = %d, want 1", r, reason, v)
	}
	if v := oteltest.Total(t, sm, "mptcp.connection.fallbacks", role); v != 1 {
		t.Errorf("mptcp.connection.fallbacks{%s} = %d over every reason, want 1", r, v)
	}
	if v := oteltest.Total(t, sm, "mptcp.subflow.opened", role); v != 0 {
		t.Errorf("mptcp.subflow.opened{%s} = %d, want 0", r, v)
	}
	if n := oteltest.HistCount(t, sm, "mptcp.connection.duration", role, attribute.Bool("mptcp.fallback", true)); n != 1 {
		t.Errorf("mptcp.connection.duration{%s,fallback=true}: %d values, want 1", r, n)
	}
	tel.CheckClosedGauges(t)
}
