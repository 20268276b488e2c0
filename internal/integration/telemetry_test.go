package integration_test

import (
	"testing"
	"time"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/internal/oteltest"
	"github.com/mptcpx/mptcpx/internal/testbed"
	"github.com/mptcpx/mptcpx/mptcpxotel"
)

// interval is the sampling interval of the tests' connections: short, so
// that subflow changes show up quickly and periodic samples happen while
// data flows.
const interval = 50 * time.Millisecond

// Attribute values the tests look for.
var (
	roleClient  = oteltest.RoleClient
	roleServer  = oteltest.RoleServer
	transmitDir = oteltest.TransmitDir
	receiveDir  = oteltest.ReceiveDir
)

// telemetry is the in-memory SDK of package oteltest. Each test has its
// own, so its metrics count its connections only.
type telemetry struct{ *oteltest.Telemetry }

func newTelemetry(t testing.TB) *telemetry { return &telemetry{oteltest.New(t)} }

// options returns the options that make a Dialer or Listener record into
// tel and sample every interval.
func (tel *telemetry) options() []mptcpx.Option {
	return []mptcpx.Option{
		mptcpx.WithTelemetry(mptcpxotel.WithTracerProvider(tel.TP), mptcpxotel.WithMeterProvider(tel.MP)),
		mptcpx.WithInterval(interval),
	}
}

// waitSubflowsActive waits until mptcp.subflow.active counts client
// subflows on the client side and server on the server side: until the
// sampler, not just the kernel, has seen them. It returns how long that
// took.
func (tel *telemetry) waitSubflowsActive(t testing.TB, client, server int64) time.Duration {
	t.Helper()
	start := time.Now()
	var got [2]int64
	err := testbed.WaitFor(waitTimeout, func() (bool, error) {
		sm := tel.Metrics(t)
		got = [2]int64{oteltest.Total(t, sm, "mptcp.subflow.active", roleClient), oteltest.Total(t, sm, "mptcp.subflow.active", roleServer)}
		return got == [2]int64{client, server}, nil
	})
	if err != nil {
		t.Fatalf("mptcp.subflow.active = %d on the client side, %d on the server side, want %d and %d: %v", got[0], got[1], client, server, err)
	}
	return time.Since(start)
}
