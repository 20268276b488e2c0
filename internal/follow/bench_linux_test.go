package follow

import (
	"context"
	"fmt"
	"testing"
	"time"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/bareinfo"
	"github.com/mptcpx/mptcpx/internal/benchcmp"
	"github.com/mptcpx/mptcpx/internal/telemetry"
	"github.com/mptcpx/mptcpx/internal/testenv"
	"github.com/mptcpx/mptcpx/mptcpinfo"
	"github.com/mptcpx/mptcpx/mptcpxotel"
)

// BenchmarkSampler measures one connection-sample of the scheduler
// (heap bookkeeping, the kernel read, change detection; no hooks attached)
// against a bare getsockopt(MPTCP_FULL_INFO) loop over the same idle
// connections, interleaved in one run.
func BenchmarkSampler(b *testing.B) {
	if mptcpinfo.KernelMethod() != mptcpinfo.MethodFullInfo {
		b.Skip("kernel before 6.5: no MPTCP_FULL_INFO baseline")
	}
	for _, c := range []struct {
		hooks string
		n     int
	}{{"none", 1000}, {"none", 10000}, {"otel-noop", 1000}, {"otel-sdk", 1000}} {
		b.Run(fmt.Sprintf("hooks=%s/conns=%d", c.hooks, c.n), func(b *testing.B) {
			n := c.n
			clients := testenv.IdleConns(b, n)
			tracer := benchTracer(b, c.hooks)
			fds := make([]int, n)
			sm := NewScheduler()
			for i, c := range clients {
				rc, err := c.SyscallConn()
				if err != nil {
					b.Fatal(err)
				}
				rc.Control(func(fd uintptr) { fds[i] = int(fd) })
				cl := &sm.classes[classOf(time.Second)]
				t := &Follower{sched: sm, rc: rc, interval: time.Second, index: int32(len(cl.heap)), due: time.Duration(i), class: classOf(time.Second)}
				if tracer != nil {
					_, t.hooks = tracer.DialStart(context.Background(), conntrace.DialStart{Network: "tcp", Address: c.RemoteAddr().String(), Time: time.Now()})
					t.hooks.Established(c, time.Now())
					defer t.hooks.Closed(time.Now())
				}
				cl.heap = append(cl.heap, t)
				sm.n++
				// Its first sample joins its namespace's registry
				// entry; it leaves it as a closed connection would.
				b.Cleanup(func() { t.paths.ns.Leave() })
			}
			// The bare loop: the same request the reader makes, no decoding.
			floor := bareinfo.NewFullInfo(4)
			defer floor.Close()
			next := 0
			bare := func(ops int) {
				for range ops {
					if e := floor.Get(fds[next]); e != 0 {
						b.Fatal(e)
					}
					if next++; next == n {
						next = 0
					}
				}
			}
			sc := new(scratch)
			cl := &sm.classes[classOf(time.Second)]
			sampled := func(ops int) {
				for range ops {
					sm.mu.Lock()
					t := cl.heap[0]
					t.due += t.interval
					cl.down(0)
					sm.mu.Unlock()
					t.sample(sc, false)
				}
			}
			sampled(n) // first samples: each connection's state is created
			b.ReportAllocs()
			benchcmp.Run(b, bare, sampled)
		})
	}
}

// benchTracer returns the hooks a BenchmarkSampler case attaches: none, the
// OpenTelemetry instrumentation on no-op providers, or on the SDK with every
// span sampled and metrics read by a ManualReader.
func benchTracer(b *testing.B, hooks string) conntrace.Hooks {
	switch hooks {
	case "otel-noop":
		return instrumentation(mptcpxotel.WithTracerProvider(tracenoop.NewTracerProvider()), mptcpxotel.WithMeterProvider(metricnoop.NewMeterProvider()))
	case "otel-sdk":
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(tracetest.NewSpanRecorder()))
		reader := sdkmetric.NewManualReader()
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
		b.Cleanup(func() {
			var rm metricdata.ResourceMetrics
			if err := reader.Collect(context.Background(), &rm); err != nil {
				b.Error(err)
			}
			tp.Shutdown(context.Background())
			mp.Shutdown(context.Background())
		})
		return instrumentation(mptcpxotel.WithTracerProvider(tp), mptcpxotel.WithMeterProvider(mp))
	}
	return nil
}

// instrumentation returns the OpenTelemetry instrumentation for opts, as
// mptcpx.WithTelemetry installs it.
func instrumentation(opts ...mptcpxotel.Option) conntrace.Hooks {
	return telemetry.New.(func([]mptcpxotel.Option) conntrace.Hooks)(opts)
}

// BenchmarkEventPath measures what one path event costs the process on the
// connection's side: queueing it, scheduling the sample, and the full
// sample it triggers, with the event tied to its subflow, against a plain
// full sample of the same connection. Decoding the event is
// internal/pmevents' BenchmarkDecode (about 45 ns).
//
//	go test -run '^$' -bench EventPath ./internal/follow
func BenchmarkEventPath(b *testing.B) {
	c, _ := testenv.LoopbackMPTCP(b)
	tr := newTestFollower(NewScheduler(), c, time.Hour, &nopHooks{})
	sc := new(scratch)
	tr.sample(sc, true)
	tr.ev = &events{}
	sf := sc.snap.Subflows[0]
	pe := &conntrace.PathEvent{Kind: conntrace.SubflowPriority, Local: sf.Local, Remote: sf.Remote, Backup: true, HasBackup: true}
	plain := func(n int) {
		for range n {
			tr.sample(sc, true)
		}
	}
	event := func(n int) {
		for range n {
			tr.PathEvent(pe)
			tr.sample(sc, false) // the event makes it a full one
		}
	}
	b.ReportAllocs()
	benchcmp.Run(b, plain, event)
}
