package mptcpxotel_test

import (
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"io"
	"testing"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/internal/testenv"
)

// TestWithoutMPTCP: on a kernel without MPTCP (Linux 5.10 as Debian builds
// it, in the kernel matrix) every connection still gets its span, marked
// mptcp.fallback=false, with no mptcp.fallback event and no fallback counted:
// there was never an MPTCP to fall back from.
func TestWithoutMPTCP(t *testing.T) {
	testenv.RequireNoMPTCP(t)
	e := newEnv(t)
	ln, err := mptcpx.Listen("tcp", "127.0.0.1:0", mptcpx.WithTracer(e.tracer))
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
	c, err := mptcpx.NewDialer(nil, mptcpx.WithTracer(e.tracer)).Dial("tcp", ln.Addr().String())
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
		if v, ok := attr(s.Attributes(), "mptcp.fallback"); !ok || v.AsBool() {
			t.Errorf("%s span: mptcp.fallback = %v (present %v), want false", role, v.AsBool(), ok)
		}
		if n := len(eventsNamed(s, "mptcp.fallback")); n != 0 {
			t.Errorf("%s span: %d mptcp.fallback events", role, n)
		}
	}
	if m, ok := findMetric(e.collect(t), "mptcp.connection.fallbacks"); ok {
		for _, p := range m.Data.(metricdata.Sum[int64]).DataPoints {
			if p.Value != 0 {
				t.Errorf("mptcp.connection.fallbacks = %d at %v", p.Value, p.Attributes.ToSlice())
			}
		}
	}
}
