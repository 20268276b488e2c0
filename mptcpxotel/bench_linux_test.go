package mptcpxotel_test

import (
	"context"
	"syscall"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/bareinfo"
	"github.com/mptcpx/mptcpx/internal/benchcmp"
	"github.com/mptcpx/mptcpx/internal/testenv"
	"github.com/mptcpx/mptcpx/mptcpinfo"
	"github.com/mptcpx/mptcpx/mptcpxotel"
)

// mptcpConn returns the raw client end of a loopback MPTCP connection.
func mptcpConn(b *testing.B) syscall.RawConn {
	b.Helper()
	testenv.RequireMPTCP(b)
	if mptcpinfo.KernelMethod() != mptcpinfo.MethodFullInfo {
		b.Skip("kernel before 6.5: no MPTCP_FULL_INFO")
	}
	c, _ := testenv.LoopbackMPTCP(b)
	rc, err := c.SyscallConn()
	if err != nil {
		b.Fatal(err)
	}
	return rc
}

// bareFullInfo returns the baseline: getsockopt(MPTCP_FULL_INFO) on rc with
// room for 4 subflows and no decoding, n times.
func bareFullInfo(b *testing.B, rc syscall.RawConn) func(n int) {
	bare := bareinfo.NewFullInfo(4)
	b.Cleanup(bare.Close)
	var fd int
	rc.Control(func(f uintptr) { fd = int(f) })
	return func(n int) {
		for range n {
			if e := bare.Get(fd); e != 0 {
				b.Fatal(e)
			}
		}
	}
}

// sampleLoop returns the candidate: what the sampler does for one
// connection-sample, with ct as the hooks: Reader.Read, the change set (here
// a steady one: the same subflow, bytes both ways) and ct.Sampled.
func sampleLoop(b *testing.B, rc syscall.RawConn, ct conntrace.ConnHooks) func(n int) {
	var r mptcpinfo.Reader
	var snap mptcpinfo.Snapshot
	var sm conntrace.Sample
	read := func() {
		if err := r.Read(rc, &snap); err != nil {
			b.Fatal(err)
		}
		sm.Snapshot = &snap
		sm.SubflowDeltas = append(sm.SubflowDeltas[:0], conntrace.SubflowDelta{Sent: 1460, Received: 100})
	}
	read()
	sm.Added = append(sm.Added, 0) // the first sample: the initial subflow
	ct.Sampled(&sm)
	sm.Added = sm.Added[:0]
	sm.Sent, sm.Received, sm.SubflowsMax = 1460, 100, 1
	return func(n int) {
		for range n {
			read()
			ct.Sampled(&sm)
		}
	}
}

// nopConn is a ConnHooks that does nothing.
type nopConn struct{ conntrace.ConnHooks }

func (nopConn) Sampled(*conntrace.Sample) {}

// BenchmarkSample compares a connection-sample with the instrumentation
// (Reader.Read, then the Sampled hook) against the bare
// getsockopt(MPTCP_FULL_INFO) it is built on, interleaved in one run: with
// the SDK installed (every span sampled, metrics kept for a ManualReader)
// and with the default no-op global providers.
//
//	go test ./mptcpxotel -run '^$' -bench Sample -benchtime 400000x
func BenchmarkSample(b *testing.B) {
	for _, c := range []struct {
		name   string
		tracer func(b *testing.B) *mptcpxotel.Tracer
	}{
		{"sdk", func(b *testing.B) *mptcpxotel.Tracer { return newEnv(b).tracer }},
		{"noop", func(*testing.B) *mptcpxotel.Tracer { return mptcpxotel.NewTracer() }},
		{"reader", nil}, // no hooks: the reader's own cost, for reference
	} {
		b.Run(c.name, func(b *testing.B) {
			rc := mptcpConn(b)
			var ct conntrace.ConnHooks = nopConn{}
			if c.tracer != nil {
				ct = dial(b, c.tracer(b), "127.0.0.1:5000", "127.0.0.1:443")
			}
			b.ReportAllocs()
			benchcmp.Run(b, bareFullInfo(b, rc), sampleLoop(b, rc, ct))
		})
	}
}

// BenchmarkRecord is the measurement behind the choice of observable
// instruments fed by atomic accumulators: the metric updates of one steady
// sample (bytes both ways at the connection and subflow levels, one RTT)
// made with synchronous instruments and precomputed attribute sets (base),
// against the Sampled hook itself (cand), both into the SDK.
//
//	go test ./mptcpxotel -run '^$' -bench Record -benchtime 400000x
func BenchmarkRecord(b *testing.B) {
	e := newEnv(b)
	ct, sm := steady(b, e.tracer)

	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() { mp.Shutdown(context.Background()) })
	meter := mp.Meter("sync")
	io, _ := meter.Int64Counter("io")
	subIO, _ := meter.Int64Counter("subflow.io")
	rtt, _ := meter.Float64Histogram("rtt")
	opt := func(kv ...attribute.KeyValue) metric.MeasurementOption {
		return metric.WithAttributeSet(attribute.NewSet(kv...))
	}
	tx := []metric.AddOption{opt(client, transmit)}
	rx := []metric.AddOption{opt(client, receive)}
	subTx := []metric.AddOption{opt(client, transmit, loopback)}
	subRx := []metric.AddOption{opt(client, receive, loopback)}
	rttOpt := []metric.RecordOption{opt(client, loopback)}
	ctx := context.Background()
	sync := func(n int) {
		for range n {
			io.Add(ctx, int64(sm.Sent), tx...)
			io.Add(ctx, int64(sm.Received), rx...)
			d := sm.SubflowDeltas[0]
			subIO.Add(ctx, int64(d.Sent), subTx...)
			subIO.Add(ctx, int64(d.Received), subRx...)
			rtt.Record(ctx, sm.Snapshot.Subflows[0].RTT().Seconds(), rttOpt...)
		}
	}
	hook := func(n int) {
		for range n {
			ct.Sampled(sm)
		}
	}
	b.ReportAllocs()
	benchcmp.Run(b, sync, hook)
}
