package mptcpxotel_test

import (
	"io"
	"testing"

	"go.opentelemetry.io/otel/attribute"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/internal/testenv"
)

// TestWithoutMPTCP: on a kernel without MPTCP (Linux 5.10 as Debian builds
// it, in the kernel matrix) every connection still gets its span, marked
// mptcp.fallback=true with one mptcp.fallback event whose reason is
// mptcp_unavailable, and mptcp.connection.fallbacks counts it under that
// reason: a dashboard tells "this host has MPTCP off" from "the peer does
// not speak it".
func TestWithoutMPTCP(t *testing.T) {
	testenv.RequireNoMPTCP(t)
	e := newEnv(t)
	ln, err := mptcpx.Listen("tcp", "127.0.0.1:0", mptcpx.WithoutTelemetry(), mptcpx.WithHooks(e.tracer))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err == nil {
			io.Copy(c, c)
			c.Close()
		}
	}()
	c, err := mptcpx.NewDialer(nil, mptcpx.WithoutTelemetry(), mptcpx.WithHooks(e.tracer)).Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("ping"))
	if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	<-done
	for _, role := range []string{"client", "server"} {
		s := e.spanOf(t, role)
		if v, ok := attr(s.Attributes(), "mptcp.fallback"); !ok || !v.AsBool() {
			t.Errorf("%s span: mptcp.fallback = %v (present %v), want true", role, v.AsBool(), ok)
		}
		ev := eventsNamed(s, "mptcp.fallback")
		if len(ev) != 1 {
			t.Fatalf("%s span: %d mptcp.fallback events, want 1", role, len(ev))
		}
		wantAttrs(t, role+" mptcp.fallback event", ev[0].Attributes, attribute.String("mptcp.fallback.reason", "mptcp_unavailable"))
	}
	sm := e.collect(t)
	checkFallbacks(t, sm, client, "mptcp_unavailable")
	checkFallbacks(t, sm, server, "mptcp_unavailable")
}
