package mptcpx_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"golang.org/x/sys/unix"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/bareinfo"
	"github.com/mptcpx/mptcpx/internal/follow"
	"github.com/mptcpx/mptcpx/internal/testbed"
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
// instrumentation on the global providers, path events on), against the
// bare floor: a process holding the same number of connections, with the
// same traffic, that reads each one with one getsockopt(MPTCP_FULL_INFO),
// back to back, once a second.
//
// Each measurement is a fresh child process (the test binary), so that
// neither side pays for the other's memory or goroutines; the two kinds
// alternate, A B A B, and the medians are reported with their ratio. The
// peers of the connections live in another child process, so that 16,000
// connections fit the limit of open files, and in another network
// namespace (a test bed of two namespaces joined by a veth pair), as a
// service's peers are elsewhere: the measured process's namespace holds its
// own MPTCP sockets only.
//
// Each child shows its work: the connections stay reachable until the
// window closes (runtime.KeepAlive), and the child counts what it did in
// the window: the bare floor its successful reads, mptcpx the connection
// checks its scheduler made (cheap readings, full readings and, where the
// scheduler reads a namespace's sockets in one dump, the connections the
// dumps covered) and the samples its hooks received. A child that did less
// than its mode requires (every connection checked once per interval, every
// busy connection's sample delivered) fails the benchmark instead of
// printing a ratio.
//
// Variants: idle connections; 1 % of them busy (each sending 1 KiB every
// 10 ms); idle with the OpenTelemetry SDK installed (every span sampled,
// metrics read every 10 s); every connection busy (1 KiB per second) with
// the SDK installed.
//
//	go test -run '^$' -bench ProcessCPU -benchtime 1x -timeout 60m .
func BenchmarkProcessCPU(b *testing.B) {
	if mptcpinfo.KernelMethod() != mptcpinfo.MethodFullInfo {
		b.Skip("kernel before 6.5: no MPTCP_FULL_INFO baseline")
	}
	testenv.RequireMPTCP(b)
	// Sixteen seconds: long enough that the full readings idle connections
	// take once in a while (internal/follow's safety net, started at a
	// random point of its cycle for each connection) weigh in at their
	// steady share.
	window := 16 * time.Second
	if w, err := time.ParseDuration(os.Getenv("MPTCPX_CPU_WINDOW")); err == nil {
		window = w
	}
	rounds := 3
	if r, err := strconv.Atoi(os.Getenv("MPTCPX_CPU_ROUNDS")); err == nil {
		rounds = r
	}
	cases := []struct {
		conns   int
		variant string
	}{
		{1000, "idle"}, {8000, "idle"}, {16000, "idle"},
		{1000, "busy1pct"}, {8000, "busy1pct"},
		{1000, "otel-sdk"}, {1000, "busy-sdk"},
	}
	only := os.Getenv("MPTCPX_CPU_CASES") // "1000/idle,8000/idle": a subset
	bed := testbed.New(b, testbed.Config{Paths: 1})
	// Each child's connections are left in TIME_WAIT when it exits: the
	// next child needs as many new ports (16,000 twice is more than the
	// default range's 28,232).
	if _, err := bed.Client.Run("sysctl", "-qw", "net.ipv4.ip_local_port_range=1024 65535"); err != nil {
		b.Fatal(err)
	}
	for _, c := range cases {
		name := fmt.Sprintf("%d/%s", c.conns, c.variant)
		if only != "" && !slices.Contains(strings.Split(only, ","), name) {
			continue
		}
		b.Run(fmt.Sprintf("conns=%d/%s", c.conns, c.variant), func(b *testing.B) {
			listening := testenv.IdlePeerIn(b, bed.Server.Name(), ":0")
			_, port, _ := net.SplitHostPort(listening)
			addr := net.JoinHostPort(bed.ServerAddr(0).String(), port)
			var bare, lib []cpuReading
			for range rounds {
				bare = append(bare, measureChildIn(b, bed.Client.Name(), "bare", c.conns, c.variant, addr, window))
				lib = append(lib, measureChildIn(b, bed.Client.Name(), "mptcpx", c.conns, c.variant, addr, window))
			}
			mb, ml := medianCPU(bare), medianCPU(lib)
			b.ReportMetric(mb.percent, "bare-%core")
			b.ReportMetric(ml.percent, "mptcpx-%core")
			b.ReportMetric(ml.percent/mb.percent, "ratio")
			b.ReportMetric(mb.switches, "bare-cs/s")
			b.ReportMetric(ml.switches, "mptcpx-cs/s")
			b.Logf("%d conns %s: bare %.2f%% of a core (%v), mptcpx %.2f%% (%v): ratio %.2f; work in the window: bare %v, mptcpx %v",
				c.conns, c.variant, mb.percent, percents(bare), ml.percent, percents(lib), ml.percent/mb.percent, works(bare), works(lib))
		})
	}
}

// BenchmarkShortLivedCPU measures what a program pays per short-lived
// connection (dial, 100 B echoed, close; both ends in the process, one
// connection at a time), with default options (path events on), against
// the same loop over net's MPTCP connections: whole-process CPU time per
// connection, and wall time per connection, over a window, in fresh child
// processes alternating A B A B. Each child counts the connections it
// completed in the window; fewer than 100 fail the benchmark.
//
//	go test -run '^$' -bench ShortLivedCPU -benchtime 1x .
func BenchmarkShortLivedCPU(b *testing.B) {
	testenv.RequireMPTCP(b)
	window := 5 * time.Second
	if w, err := time.ParseDuration(os.Getenv("MPTCPX_CPU_WINDOW")); err == nil {
		window = w
	}
	rounds := 3
	if r, err := strconv.Atoi(os.Getenv("MPTCPX_CPU_ROUNDS")); err == nil {
		rounds = r
	}
	var bare, lib []cpuReading
	for range rounds {
		bare = append(bare, measureChild(b, "bare", 0, "shortlived", "-", window))
		lib = append(lib, measureChild(b, "mptcpx", 0, "shortlived", "-", window))
	}
	perConn := func(rs []cpuReading) (cpu, wall []float64) {
		for _, r := range rs {
			cpu = append(cpu, r.percent/100*window.Seconds()/float64(r.work.checks)*1e6)
			wall = append(wall, window.Seconds()/float64(r.work.checks)*1e6)
		}
		slices.Sort(cpu)
		slices.Sort(wall)
		return cpu, wall
	}
	bc, bw := perConn(bare)
	lc, lw := perConn(lib)
	mid := len(bc) / 2
	b.ReportMetric(bc[mid], "bare-cpu-µs/conn")
	b.ReportMetric(lc[mid], "mptcpx-cpu-µs/conn")
	b.ReportMetric(lc[mid]/bc[mid], "cpu-ratio")
	b.ReportMetric(bw[mid], "bare-wall-µs/conn")
	b.ReportMetric(lw[mid], "mptcpx-wall-µs/conn")
	b.ReportMetric(lw[mid]/bw[mid], "wall-ratio")
	b.Logf("per connection: CPU bare %.0f µs %v, mptcpx %.0f µs %v (ratio %.2f); wall bare %.0f µs, mptcpx %.0f µs (ratio %.2f)",
		bc[mid], bc, lc[mid], lc, lc[mid]/bc[mid], bw[mid], lw[mid], lw[mid]/bw[mid])
}

// shortLived is the short-lived child's loop: one connection at a time,
// dialed and accepted in the process, 100 B echoed, both ends closed,
// until stop is closed. It returns the connections completed.
func shortLived(mode string, stop <-chan struct{}) uint64 {
	var ln net.Listener
	var dial func(string, string) (net.Conn, error)
	if mode == "bare" {
		var lc net.ListenConfig
		lc.SetMultipathTCP(true)
		l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		var d net.Dialer
		d.SetMultipathTCP(true)
		ln, dial = l, d.Dial
	} else {
		l, err := mptcpx.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		ln, dial = l, func(network, address string) (net.Conn, error) { return mptcpx.Dial(network, address) }
	}
	defer ln.Close()
	go func() {
		buf := make([]byte, 100)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if _, err := io.ReadFull(c, buf); err == nil {
				c.Write(buf)
			}
			c.Close()
		}
	}()
	msg, buf := make([]byte, 100), make([]byte, 100)
	var n uint64
	for {
		select {
		case <-stop:
			return n
		default:
		}
		c, err := dial("tcp", ln.Addr().String())
		if err != nil {
			fmt.Fprintln(os.Stderr, "dial:", err)
			os.Exit(1)
		}
		c.Write(msg)
		if _, err := io.ReadFull(c, buf); err != nil {
			fmt.Fprintln(os.Stderr, "echo:", err)
			os.Exit(1)
		}
		c.Close()
		n++
	}
}

// cpuReading is one child's measurement: CPU time as a percentage of one
// core over the window, context switches per second, and the work done
// (see childWork).
type cpuReading struct {
	percent, switches float64
	work              childWork
}

// childWork is what a measured child did in its window: connection checks
// (bare: successful reads; mptcpx: cheap readings, full readings and
// connections covered by namespace dumps), samples delivered to the hooks,
// and the floor both must reach.
type childWork struct {
	checks, samples     uint64
	needChecks, needSam uint64
}

func (w childWork) String() string {
	return fmt.Sprintf("%d checks (need %d), %d samples (need %d)", w.checks, w.needChecks, w.samples, w.needSam)
}

func works(rs []cpuReading) []string {
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%d/%d", r.work.checks, r.work.samples))
	}
	return out
}

func medianCPU(rs []cpuReading) cpuReading {
	p := make([]float64, len(rs))
	s := make([]float64, len(rs))
	for i, r := range rs {
		p[i], s[i] = r.percent, r.switches
	}
	slices.Sort(p)
	slices.Sort(s)
	return cpuReading{percent: p[len(p)/2], switches: s[len(s)/2]}
}

func percents(rs []cpuReading) []string {
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%.2f", r.percent))
	}
	return out
}

// measureChild runs one measured child process, reads its result and fails
// b when the child did less work than its mode requires.
func measureChild(b *testing.B, mode string, conns int, variant, addr string, window time.Duration) cpuReading {
	return measureChildIn(b, "", mode, conns, variant, addr, window)
}

// measureChildIn is measureChild in the network namespace named netns ("":
// the test's own).
func measureChildIn(b *testing.B, netns, mode string, conns int, variant, addr string, window time.Duration) cpuReading {
	b.Helper()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe)
	if netns != "" {
		cmd = exec.Command("ip", "netns", "exec", netns, exe)
	}
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d %s %s %s", cpuChildEnv, mode, conns, variant, addr, window))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("%s child: %v\n%s", mode, err, out)
	}
	var r cpuReading
	w := &r.work
	if _, err := fmt.Sscan(string(out), &r.percent, &r.switches, &w.checks, &w.samples, &w.needChecks, &w.needSam); err != nil {
		b.Fatalf("%s child printed %q: %v", mode, out, err)
	}
	if w.checks < w.needChecks || w.samples < w.needSam {
		b.Fatalf("%s child did too little in its %v window: %v; its CPU time measures nothing", mode, window, *w)
	}
	return r
}

// sampleCounter counts the samples delivered to the hooks of every
// connection of the mptcpx child.
type sampleCounter struct {
	conntrace.NopHooks
	conntrace.NopConnHooks
	n atomic.Uint64
}

func (c *sampleCounter) DialStart(ctx context.Context, _ conntrace.DialStart) (context.Context, conntrace.ConnHooks) {
	return ctx, c
}
func (c *sampleCounter) Sampled(*conntrace.Sample) { c.n.Add(1) }

// runCPUChild is the measured process: it opens the connections, lets them
// settle, measures its own CPU time and its work over the window and
// prints them.
func runCPUChild(spec string) {
	var mode, variant, addr, windowText string
	var conns int
	_, err := fmt.Sscan(spec, &mode, &conns, &variant, &addr, &windowText)
	window, werr := time.ParseDuration(windowText)
	if err != nil || werr != nil {
		fmt.Fprintln(os.Stderr, "bad child spec:", spec, err, werr)
		os.Exit(2)
	}
	if variant == "shortlived" {
		// Warm-up: the first connections, then the window.
		stop := make(chan struct{})
		time.AfterFunc(time.Second, func() { close(stop) })
		shortLived(mode, stop)
		var r0, r1 unix.Rusage
		stop = make(chan struct{})
		stats0 := follow.Default.Stats()
		unix.Getrusage(unix.RUSAGE_SELF, &r0)
		t0 := time.Now()
		time.AfterFunc(window, func() { close(stop) })
		n := shortLived(mode, stop)
		unix.Getrusage(unix.RUSAGE_SELF, &r1)
		elapsed := time.Since(t0)
		if stats1 := follow.Default.Stats(); mode != "bare" && os.Getenv("MPTCPX_CPU_VERBOSE") != "" {
			fmt.Fprintf(os.Stderr, "mptcpx child: %d connections, %d wake-ups, %d samples, %d full readings\n",
				n, stats1.Wakeups-stats0.Wakeups, stats1.Samples-stats0.Samples, stats1.FullReads-stats0.FullReads)
		}
		cpu := time.Duration(r1.Utime.Nano()-r0.Utime.Nano()) + time.Duration(r1.Stime.Nano()-r0.Stime.Nano())
		// The window's share of the CPU; the connections completed are the
		// work, at least 100.
		fmt.Printf("%f %f %d %d %d %d\n", 100*cpu.Seconds()/elapsed.Seconds(), float64(r1.Nvcsw-r0.Nvcsw+r1.Nivcsw-r0.Nivcsw)/elapsed.Seconds(), n, 0, 100, 0)
		os.Exit(0)
	}
	var lim unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
	lim.Cur = lim.Max // raise the soft limit to the hard one
	unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
	sdk := variant == "otel-sdk" || variant == "busy-sdk"
	if sdk {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(discardSpans{}))
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(discardMetrics{}, sdkmetric.WithInterval(10*time.Second))))
		otel.SetTracerProvider(tp)
		otel.SetMeterProvider(mp)
	}
	// The mptcpx child runs with default options, and a hook that counts
	// the samples its connections' hooks receive.
	counter := &sampleCounter{}
	d := mptcpx.NewDialer(nil, mptcpx.WithHooks(counter))
	dial := d.Dial
	if mode == "bare" {
		var nd net.Dialer
		nd.SetMultipathTCP(true)
		dial = nd.Dial
	}
	cs := make([]net.Conn, 0, conns)
	fds := make([]int, 0, conns)
	for range conns {
		c, err := dial("tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "dial:", err)
			os.Exit(1)
		}
		cs = append(cs, c)
		rc, _ := c.(syscall.Conn).SyscallConn()
		rc.Control(func(fd uintptr) { fds = append(fds, int(fd)) })
	}
	var bareReads atomic.Uint64
	if mode == "bare" {
		go bareFloor(fds, &bareReads)
	}
	busy := 0
	period := time.Duration(0)
	switch variant {
	case "busy1pct":
		busy, period = max(1, conns/100), 10*time.Millisecond
	case "busy-sdk":
		busy, period = conns, time.Second
	}
	for _, c := range cs[:busy] {
		go func() {
			buf := make([]byte, 1024)
			time.Sleep(time.Duration(rand.Int64N(int64(period))))
			for {
				time.Sleep(period)
				if _, err := c.Write(buf); err != nil {
					return
				}
			}
		}()
	}
	time.Sleep(3 * time.Second) // first samples, spreading, warm-up
	runtime.GC()
	var r0, r1 unix.Rusage
	stats0, samples0, reads0 := follow.Default.Stats(), counter.n.Load(), bareReads.Load()
	unix.Getrusage(unix.RUSAGE_SELF, &r0)
	t0 := time.Now()
	time.Sleep(window)
	unix.Getrusage(unix.RUSAGE_SELF, &r1)
	elapsed := time.Since(t0)
	stats1, samples1, reads1 := follow.Default.Stats(), counter.n.Load(), bareReads.Load()
	// What was measured was alive and followed until here.
	runtime.KeepAlive(cs)
	cpu := time.Duration(r1.Utime.Nano()-r0.Utime.Nano()) + time.Duration(r1.Stime.Nano()-r0.Stime.Nano())
	switches := float64(r1.Nvcsw-r0.Nvcsw+r1.Nivcsw-r0.Nivcsw) / elapsed.Seconds()
	// Every connection checked once per whole interval of the window (a
	// tenth of slack for the window's edges), every busy connection's
	// samples delivered at least once per interval when it sends at least
	// once per interval.
	intervals := uint64(window / time.Second)
	need := childWork{needChecks: uint64(conns) * intervals * 9 / 10}
	var w childWork
	if mode == "bare" {
		w.checks = reads1 - reads0
	} else {
		w.checks = (stats1.Probes - stats0.Probes) + (stats1.FullReads - stats0.FullReads) + (stats1.Covered - stats0.Covered)
		// Parked connections count as checked by the readiness list only
		// when it was drained at least once per interval.
		if stats1.Harvests-stats0.Harvests >= intervals*9/10 {
			w.checks += stats1.Quiet - stats0.Quiet
		}
		w.samples = samples1 - samples0
		need.needSam = uint64(busy) * intervals * 9 / 10
	}
	w.needChecks, w.needSam = need.needChecks, need.needSam
	if mode != "bare" && os.Getenv("MPTCPX_CPU_VERBOSE") != "" {
		fmt.Fprintf(os.Stderr, "mptcpx child: %d wake-ups, %d dumps covering %d checks, %d readiness drains covering %d checks (%d parked), %d cheap readings, %d full readings, %d samples\n",
			stats1.Wakeups-stats0.Wakeups, stats1.Dumps-stats0.Dumps, stats1.Covered-stats0.Covered,
			stats1.Harvests-stats0.Harvests, stats1.Quiet-stats0.Quiet, stats1.Parks-stats0.Parks, stats1.Probes-stats0.Probes,
			stats1.FullReads-stats0.FullReads, stats1.Samples-stats0.Samples)
	}
	fmt.Printf("%f %f %d %d %d %d\n", 100*cpu.Seconds()/elapsed.Seconds(), switches, w.checks, w.samples, w.needChecks, w.needSam)
	os.Exit(0)
}

// bareFloor reads every connection once a second with one bare
// getsockopt(MPTCP_FULL_INFO), back to back, and counts the reads that
// succeeded.
func bareFloor(fds []int, reads *atomic.Uint64) {
	floor := bareinfo.NewFullInfo(4)
	defer floor.Close()
	for range time.Tick(time.Second) {
		for _, fd := range fds {
			if floor.Get(fd) == 0 {
				reads.Add(1)
			}
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
