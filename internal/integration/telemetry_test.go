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
// sampler, not just the kernel, has seen them. It returns how long the
// telemetry certainly had not yet counted them (see missedFor).
func (tel *telemetry) waitSubflowsActive(t testing.TB, client, server int64) time.Duration {
	t.Helper()
	start := time.Now()
	var got [2]int64
	missed, err := missedFor(start, func() bool {
		sm := tel.Metrics(t)
		got = [2]int64{oteltest.Total(t, sm, "mptcp.subflow.active", roleClient), oteltest.Total(t, sm, "mptcp.subflow.active", roleServer)}
		return got == [2]int64{client, server}
	})
	if err != nil {
		t.Fatalf("mptcp.subflow.active = %d on the client side, %d on the server side, want %d and %d: %v", got[0], got[1], client, server, err)
	}
	return missed
}

// missedFor polls seen until it holds and returns how long after since the
// last check that did not see it began: the time the telemetry certainly
// had not yet shown it. The time it took to show it lies between that and
// the end of the check that saw it; a check (a collection of the metrics)
// takes tens of milliseconds in an emulated VM, so only the lower bound
// tells a late sampler from a slow poll.
func missedFor(since time.Time, seen func() bool) (time.Duration, error) {
	var missed time.Duration
	err := testbed.WaitFor(waitTimeout, func() (bool, error) {
		check := time.Now()
		if seen() {
			return true, nil
		}
		missed = max(missed, check.Sub(since))
		return false, nil
	})
	return missed, err
}
