package mptcpx_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"golang.org/x/sys/unix"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/internal/bareinfo"
	"github.com/mptcpx/mptcpx/internal/testenv"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// cpuChildEnv makes the test binary one measured process of
// BenchmarkProcessCPU: "mode conns variant server-address window".
const cpuChildEnv = "MPTCPX_CPU_CHILD"

// BenchmarkProcessCPU measures what a program pays for mptcpx's sampling:
// the whole process's CPU time (getrusage: user and system, every thread,
// wake-ups and cache misses included) over a window, with N connections
// open and default options (one-second interval, the OpenTelemetry
// instrumentation on the global providers), against the bare floor: a
// process holding the same number of connections that reads each one with
// one getsockopt(MPTCP_FULL_INFO), back to back, once a second.
//
// Each measurement is a fresh child process (the test binary), so that
// neither side pays for the other's memory or goroutines; the two kinds
// alternate, A B A B, and the medians are reported with their ratio. The
// peers of the connections live in another child process, so that 8,000
// connections fit the limit of open files.
//
// Variants: idle connections; 1 % of them busy (each sending 1 KiB every
// 10 ms, the same traffic in both kinds); idle with the OpenTelemetry SDK
// installed (every span sampled, metrics read every 10 s).
//
//	go test -run '^$' -bench ProcessCPU -benchtime 1x -timeout 30m .
func BenchmarkProcessCPU(b *testing.B) {
	if mptcpinfo.KernelMethod() != mptcpinfo.MethodFullInfo {
		b.Skip("kernel before 6.5: no MPTCP_FULL_INFO baseline")
	}
	testenv.RequireMPTCP(b)
	window := 8 * time.Second
	if w, err := time.ParseDuration(os.Getenv("MPTCPX_CPU_WINDOW")); err == nil {
		window = w
	}
	rounds := 3
	if r, err := strconv.Atoi(os.Getenv("MPTCPX_CPU_ROUNDS")); err == nil {
		rounds = r
	}
	for _, c := range []struct {
		conns   int
		variant string
	}{{1000, "idle"}, {8000, "idle"}, {1000, "busy1pct"}, {8000, "busy1pct"}, {1000, "otel-sdk"}} {
		b.Run(fmt.Sprintf("conns=%d/%s", c.conns, c.variant), func(b *testing.B) {
			addr := testenv.IdlePeer(b)
			var bare, lib []cpuReading
			for range rounds {
				bare = append(bare, measureChild(b, "bare", c.conns, c.variant, addr, window))
				lib = append(lib, measureChild(b, "mptcpx", c.conns, c.variant, addr, window))
			}
			mb, ml := medianCPU(bare), medianCPU(lib)
			b.ReportMetric(mb.percent, "bare-%core")
			b.ReportMetric(ml.percent, "mptcpx-%core")
			b.ReportMetric(ml.percent/mb.percent, "ratio")
			b.ReportMetric(mb.switches, "bare-cs/s")
			b.ReportMetric(ml.switches, "mptcpx-cs/s")
			b.Logf("%d conns %s: bare %.2f%% of a core (%v), mptcpx %.2f%% (%v): ratio %.2f", c.conns, c.variant,
				mb.percent, percents(bare), ml.percent, percents(lib), ml.percent/mb.percent)
		})
	}
}

// cpuReading is one child's measurement: CPU time as a percentage of one
// core over the window, and context switches per second.
type cpuReading struct{ percent, switches float64 }

func medianCPU(rs []cpuReading) cpuReading {
	p := make([]float64, len(rs))
	s := make([]float64, len(rs))
	for i, r := range rs {
		p[i], s[i] = r.percent, r.switches
	}
	slices.Sort(p)
	slices.Sort(s)
	return cpuReading{p[len(p)/2], s[len(s)/2]}
}

func percents(rs []cpuReading) []string {
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%.2f", r.percent))
	}
	return out
}

// measureChild runs one measured child process and reads its result.
func measureChild(b *testing.B, mode string, conns int, variant, addr string, window time.Duration) cpuReading {
	b.Helper()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d %s %s %s", cpuChildEnv, mode, conns, variant, addr, window))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("%s child: %v\n%s", mode, err, out)
	}
	var r cpuReading
	if _, err := fmt.Sscan(string(out), &r.percent, &r.switches); err != nil {
		b.Fatalf("%s child printed %q: %v", mode, out, err)
	}
	return r
}

// runCPUChild is the measured process: it opens the connections, lets them
// settle, measures its own CPU time over the window and prints it.
func runCPUChild(spec string) {
	var mode, variant, addr, windowText string
	var conns int
	_, err := fmt.Sscan(spec, &mode, &conns, &variant, &addr, &windowText)
	window, werr := time.ParseDuration(windowText)
	if err != nil || werr != nil {
		fmt.Fprintln(os.Stderr, "bad child spec:", spec, err, werr)
		os.Exit(2)
	}
	var lim unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
	lim.Cur = lim.Max // raise the soft limit to the hard one
	unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
	if variant == "otel-sdk" {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(discardSpans{}))
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(discardMetrics{}, sdkmetric.WithInterval(10*time.Second))))
		otel.SetTracerProvider(tp)
		otel.SetMeterProvider(mp)
	}
	dial := func() (net.Conn, error) { return mptcpx.Dial("tcp", addr) }
	if mode == "bare" {
		var d net.Dialer
		d.SetMultipathTCP(true)
		dial = func() (net.Conn, error) { return d.Dial("tcp", addr) }
	}
	cs := make([]net.Conn, 0, conns)
	fds := make([]int, 0, conns)
	for range conns {
		c, err := dial()
		if err != nil {
			fmt.Fprintln(os.Stderr, "dial:", err)
			os.Exit(1)
		}
		cs = append(cs, c)
		rc, _ := c.(syscall.Conn).SyscallConn()
		rc.Control(func(fd uintptr) { fds = append(fds, int(fd)) })
	}
	if mode == "bare" {
		go bareFloor(fds)
	}
	if variant == "busy1pct" {
		for _, c := range cs[:max(1, conns/100)] {
			go func() {
				buf := make([]byte, 1024)
				for {
					time.Sleep(10 * time.Millisecond)
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			}()
		}
	}
	time.Sleep(3 * time.Second) // first samples, spreading, warm-up
	runtime.GC()
	var r0, r1 unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &r0)
	t0 := time.Now()
	time.Sleep(window)
	unix.Getrusage(unix.RUSAGE_SELF, &r1)
	elapsed := time.Since(t0)
	cpu := time.Duration(r1.Utime.Nano()-r0.Utime.Nano()) + time.Duration(r1.Stime.Nano()-r0.Stime.Nano())
	switches := float64(r1.Nvcsw-r0.Nvcsw+r1.Nivcsw-r0.Nivcsw) / elapsed.Seconds()
	fmt.Printf("%f %f\n", 100*cpu.Seconds()/elapsed.Seconds(), switches)
	os.Exit(0)
}

// bareFloor reads every connection once a second with one bare
// getsockopt(MPTCP_FULL_INFO), back to back: the floor the issue measured.
func bareFloor(fds []int) {
	floor := bareinfo.NewFullInfo(4)
	defer floor.Close()
	for range time.Tick(time.Second) {
		for _, fd := range fds {
			floor.Get(fd)
		}
	}
}

// discardSpans and discardMetrics are an SDK's exporters that export
// nothing: the SDK does all its work, nothing leaves the process.
type discardSpans struct{}

func (discardSpans) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (discardSpans) OnEnd(sdktrace.ReadOnlySpan)                     {}
func (discardSpans) Shutdown(context.Context) error                  { return nil }
func (discardSpans) ForceFlush(context.Context) error                { return nil }

type discardMetrics struct{}

func (discardMetrics) Temporality(k sdkmetric.InstrumentKind) metricdata.Temporality {
	return sdkmetric.DefaultTemporalitySelector(k)
}
func (discardMetrics) Aggregation(k sdkmetric.InstrumentKind) sdkmetric.Aggregation {
	return sdkmetric.DefaultAggregationSelector(k)
}
func (discardMetrics) Export(context.Context, *metricdata.ResourceMetrics) error { return nil }
func (discardMetrics) ForceFlush(context.Context) error                          { return nil }
func (discardMetrics) Shutdown(context.Context) error                            { return nil }
