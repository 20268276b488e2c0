package mptcpxotel_test

import (
	"io"
	"testing"
	"time"

	"github.com/mptcpx/mptcpx/internal/testenv"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/mptcpinfo"
	"github.com/mptcpx/mptcpx/mptcpxotel"
)

// steady returns a connection with one subflow, past its first sample, and
// the sample the sampler would hand it in steady state: bytes both ways,
// no subflow added or removed.
func steady(t testing.TB, tr *mptcpxotel.Tracer) (conntrace.ConnHooks, *conntrace.Sample) {
	t.Helper()
	ct := dial(t, tr, "127.0.0.1:5000", "127.0.0.1:443")
	s := newSynth()
	s.snap.Subflows = []mptcpinfo.Subflow{subflow(1, "127.0.0.1:5000", time.Millisecond)}
	sm := s.next()
	sm.Added = append(sm.Added, 0)
	sm.SubflowDeltas = append(sm.SubflowDeltas, conntrace.SubflowDelta{Sent: 1, Received: 1})
	ct.Sampled(sm)
	sm = s.next()
	sm.SubflowDeltas = append(sm.SubflowDeltas, conntrace.SubflowDelta{Sent: 1460, Received: 100})
	sm.Sent, sm.Received, sm.Retransmitted, sm.SubflowsMax = 1460, 100, 1, 1
	return ct, sm
}

// TestSampledAllocs: a steady-state sample allocates nothing, with the SDK
// installed (every span sampled, metrics read) and with no-op providers.
func TestSampledAllocs(t *testing.T) {
	for _, c := range []struct {
		name   string
		tracer func(t *testing.T) *mptcpxotel.Tracer
	}{
		{"sdk", func(t *testing.T) *mptcpxotel.Tracer { return newEnv(t).tracer }},
		{"noop", func(*testing.T) *mptcpxotel.Tracer {
			return mptcpxotel.NewTracer(mptcpxotel.WithTracerProvider(tracenoop.NewTracerProvider()),
				mptcpxotel.WithMeterProvider(metricnoop.NewMeterProvider()))
		}},
		{"globals", func(*testing.T) *mptcpxotel.Tracer { return mptcpxotel.NewTracer() }},
	} {
		t.Run(c.name, func(t *testing.T) {
			ct, sm := steady(t, c.tracer(t))
			if a := testenv.SteadyAllocs(1000, func() { ct.Sampled(sm) }); a != 0 {
				t.Errorf("%v allocations per sample, want 0", a)
			}
			ct.Closed(t0.Add(time.Second))
		})
	}
}

// TestGlobalNoop uses the default global providers, which record nothing
// (no test of this package installs global ones):
// a real connection with traffic goes through every hook without harm.
func TestGlobalNoop(t *testing.T) {
	tr := mptcpxotel.NewTracer()
	ln := listen(t, tr)
	accepted := acceptOne(t, ln)
	c, err := dialer(tr).Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc := <-accepted
	if sc == nil {
		t.FailNow()
	}
	go func() {
		c.Write(make([]byte, 1<<20))
		c.Close()
	}()
	if n, err := io.Copy(io.Discard, sc); n != 1<<20 || err != nil {
		t.Errorf("copied %d, %v", n, err)
	}
	if sc := mptcpxotel.ConnSpanContext(sc); sc.IsValid() {
		t.Error("a no-op span is reachable")
	}
	sc.Close()
	// A failed dial too.
	ln.Close()
	if c, err := dialer(tr).Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
	}
}
