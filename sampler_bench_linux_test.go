package mptcpx

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/mptcpxotel"

	"golang.org/x/sys/unix"

	"github.com/mptcpx/mptcpx/internal/bareinfo"
	"github.com/mptcpx/mptcpx/internal/benchcmp"
	"github.com/mptcpx/mptcpx/internal/testenv"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// idleConns opens n idle MPTCP connections on loopback and returns the
// client ends. The server ends live in a child process (the test binary
// started with MPTCPX_IDLE_SERVER=1), so that 10,000 connections fit in this
// process's limit of open files.
func idleConns(b *testing.B, n int) []*net.TCPConn {
	b.Helper()
	testenv.RequireMPTCP(b)
	var lim unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
	if need := uint64(n + 256); lim.Cur < need {
		lim.Cur = min(max(lim.Cur, need), lim.Max)
		unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
		if lim.Cur < need {
			testenv.Skip(b, fmt.Sprintf("needs %d file descriptors, the limit is %d", need, lim.Max))
		}
	}
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "MPTCPX_IDLE_SERVER=1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); cmd.Wait() })
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	addr = strings.TrimSpace(addr)
	var d net.Dialer
	d.SetMultipathTCP(true)
	clients := make([]*net.TCPConn, 0, n)
	b.Cleanup(func() {
		for _, c := range clients {
			c.Close()
		}
	})
	for range n {
		c, err := d.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		clients = append(clients, c.(*net.TCPConn))
	}
	return clients
}

// BenchmarkSampler measures one connection-sample of the shared sampler
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
			clients := idleConns(b, n)
			tracer := benchTracer(b, c.hooks)
			fds := make([]int, n)
			sm := newSampler()
			for i, c := range clients {
				rc, err := c.SyscallConn()
				if err != nil {
					b.Fatal(err)
				}
				rc.Control(func(fd uintptr) { fds[i] = int(fd) })
				t := &follower{sampler: sm, rc: rc, interval: time.Second, index: int32(len(sm.heap)), due: time.Duration(i)}
				if tracer != nil {
					_, t.hooks = tracer.DialStart(context.Background(), conntrace.DialStart{Network: "tcp", Address: c.RemoteAddr().String(), Time: time.Now()})
					t.hooks.Established(c, time.Now())
					defer t.hooks.Closed(time.Now())
				}
				sm.heap = append(sm.heap, t)
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
			sampled := func(ops int) {
				for range ops {
					sm.mu.Lock()
					t := sm.heap[0]
					t.due += t.interval
					sm.down(0)
					sm.mu.Unlock()
					t.sample(sc, 0)
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
		return mptcpxotel.NewTracer(mptcpxotel.WithTracerProvider(tracenoop.NewTracerProvider()), mptcpxotel.WithMeterProvider(metricnoop.NewMeterProvider()))
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
		return mptcpxotel.NewTracer(mptcpxotel.WithTracerProvider(tp), mptcpxotel.WithMeterProvider(mp))
	}
	return nil
}

// BenchmarkHeapPerConn reports the heap mptcpx adds to an idle connection:
// the wrapper, the follower and the sampler's per-connection state, measured
// as the difference between n connections dialed through mptcpx and n
// dialed with net.Dialer to the same listener.
func BenchmarkHeapPerConn(b *testing.B) {
	testenv.RequireMPTCP(b)
	const n = 2000
	ln := testenv.ListenMPTCP(b, "tcp", "")
	accepted := make(chan net.Conn, 2*n)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	measure := func(dial func() (net.Conn, error)) float64 {
		conns := make([]net.Conn, 0, n)
		before := heap()
		for range n {
			c, err := dial()
			if err != nil {
				b.Fatal(err)
			}
			conns = append(conns, c)
		}
		for range n {
			s := <-accepted
			defer s.Close()
		}
		after := heap()
		for _, c := range conns {
			c.Close()
		}
		return float64(after-before) / n
	}
	var raw net.Dialer
	raw.SetMultipathTCP(true)
	// With path events (where the process receives them) each connection
	// also has its entry in the watcher's token map and its event state.
	for _, c := range []struct {
		name string
		opts []Option
	}{{"events=off", []Option{WithoutPathEvents()}}, {"events=default", nil}} {
		b.Run(c.name, func(b *testing.B) {
			wrapped := NewDialer(nil, c.opts...)
			var rawPer, wrappedPer []float64
			for b.Loop() {
				rawPer = append(rawPer, measure(func() (net.Conn, error) { return raw.Dial("tcp", ln.Addr().String()) }))
				wrappedPer = append(wrappedPer, measure(func() (net.Conn, error) { return wrapped.Dial("tcp", ln.Addr().String()) }))
			}
			r, w := benchcmp.Median(rawPer), benchcmp.Median(wrappedPer)
			b.ReportMetric(r, "raw-B/conn")
			b.ReportMetric(w, "mptcpx-B/conn")
			b.ReportMetric(w-r, "added-B/conn")
		})
	}
}
