package mptcpx_test

import (
	"context"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"weak"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/oteltest"
	"github.com/mptcpx/mptcpx/internal/testenv"
	"github.com/mptcpx/mptcpx/mptcpinfo"
	"github.com/mptcpx/mptcpx/mptcpxotel"
)

// soakEnv is the environment variable that runs TestSoak, with how long:
// MPTCPX_SOAK=10m.
const soakEnv = "MPTCPX_SOAK"

// TestSoak churns connections for the duration MPTCPX_SOAK gives, sampled
// at mixed intervals (1 ms, 100 ms, 10 s), each ended by one of the ways a
// connection's life can end: Close (while data is still being written, or
// not), the socket closed underneath through NetConn or a File descriptor,
// the *Conn dropped without Close, a hook that closes its own connection, a
// hook that closes another connection, a peer that resets it; some
// half-close from their Established hook, some read Info of themselves and
// of another connection from their Sampled hook. Meanwhile goroutines read
// Info and copied Readers. The heap, goroutines and descriptors must stay
// flat, every span end once, every gauge come back to zero, and nothing
// hang.
func TestSoak(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv(soakEnv))
	if err != nil || d <= 0 {
		t.Skipf("set %s to a duration (for example %s=10m) to run the soak test", soakEnv, soakEnv)
	}
	testenv.RequireMPTCP(t)
	testenv.CheckSockets(t)
	// Spans are counted, not kept: the heap must show the library's memory.
	spans := &spanCounter{}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(spans))
	tel := oteltest.New(t)
	defer tp.Shutdown(context.Background())
	policy := &closingPolicy{}
	opts := []mptcpx.Option{
		mptcpx.WithTelemetry(mptcpxotel.WithTracerProvider(tp), mptcpxotel.WithMeterProvider(tel.MP)),
		mptcpx.WithHooks(policy), mptcpx.WithInterval(mptcpx.MinInterval),
	}
	// Clients at three intervals: each keeps its own pace.
	var dialers []*mptcpx.Dialer
	for _, every := range []time.Duration{mptcpx.MinInterval, 100 * time.Millisecond, 10 * time.Second} {
		dialers = append(dialers, mptcpx.NewDialer(nil, append(opts, mptcpx.WithInterval(every))...))
	}
	ln, err := mptcpx.Listen("tcp", "127.0.0.1:0", opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var served sync.WaitGroup
	var accepted atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			served.Go(func() { serveSoak(c.(*mptcpx.Conn)) })
		}
	}()
	dialer := dialers[0]

	type point struct {
		at                time.Duration
		heap              uint64
		goroutines, fds   int
		conns, spansEnded int
	}
	var points []point
	measure := func(at time.Duration, conns int) {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fds, _ := testenv.OpenFDs()
		c, s := spans.ended()
		points = append(points, point{at, ms.HeapAlloc, runtime.NumGoroutine(), len(fds), conns, c + s})
	}

	var conns, failed atomic.Int64
	stop := time.Now().Add(d)
	var workers sync.WaitGroup
	for w := range 16 {
		workers.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for time.Now().Before(stop) {
				if soakOne(dialers[rng.IntN(len(dialers))], ln.Addr().String(), policy, rng) {
					conns.Add(1)
				} else {
					failed.Add(1)
				}
			}
		})
	}
	// Readers copied and used beside the sampler.
	workers.Go(func() {
		var r mptcpinfo.Reader
		for time.Now().Before(stop) {
			c, err := dialer.Dial("tcp", ln.Addr().String())
			if err != nil {
				failed.Add(1)
				continue
			}
			rc, _ := c.(*mptcpx.Conn).SyscallConn()
			var s mptcpinfo.Snapshot
			r.Read(rc, &s)
			cp := copyOf(&r)
			cp.Read(rc, &s)
			c.(*mptcpx.Conn).Info()
			c.Close()
			conns.Add(1)
		}
	})
	start := time.Now()
	measure(0, 0)
	for time.Now().Before(stop) {
		time.Sleep(min(time.Until(stop), d/10))
		measure(time.Since(start), int(conns.Load()))
	}
	workers.Wait()

	// Dropped connections end when they are collected. Every dial, failed
	// or not, has a client span; every accepted connection a server span.
	n, nfail := int(conns.Load()), int(failed.Load())
	wantClient, wantServer := n+nfail, int(accepted.Load())
	deadline := time.Now().Add(30 * time.Second)
	for c, s := spans.ended(); (c < wantClient || s < wantServer) && time.Now().Before(deadline); c, s = spans.ended() {
		runtime.GC()
		time.Sleep(50 * time.Millisecond)
	}
	ln.Close()
	served.Wait()
	measure(time.Since(start), n)
	for _, p := range points {
		t.Logf("%8v: %7d connections, %7d spans ended, heap %6d KiB, %4d goroutines, %4d descriptors",
			p.at.Round(time.Second), p.conns, p.spansEnded, p.heap>>10, p.goroutines, p.fds)
	}
	t.Logf("%d connections, %d dials refused by the kernel under churn, %d accepted", n, nfail, wantServer)
	if c, s := spans.ended(); c != wantClient || s != wantServer {
		t.Errorf("%d client spans ended for %d dials, %d server spans for %d accepted connections", c, wantClient, s, wantServer)
	}
	tel.CheckClosedGauges(t)
	if n := policy.twice.Load(); n != 0 {
		t.Errorf("%d connections ended twice (their Closed hook ran again)", n)
	}
	t.Logf("hooks that called back: %d closed another connection, %d half-closed in Established, %d read Info of two connections",
		policy.closedOther.Load(), policy.halfClosed.Load(), policy.infos.Load())
	// Flat: the last measurement against the one a tenth in, when every
	// pool and buffer has been made.
	if len(points) > 2 {
		first, last := points[1], points[len(points)-1]
		if last.heap > first.heap+4<<20 {
			t.Errorf("heap grew from %d to %d KiB", first.heap>>10, last.heap>>10)
		}
		if last.goroutines > first.goroutines+8 {
			t.Errorf("goroutines grew from %d to %d", first.goroutines, last.goroutines)
		}
	}
}

// soakOne makes one connection and ends it one way or another. It reports
// whether the dial succeeded: under heavy churn the kernel refuses some.
func soakOne(d *mptcpx.Dialer, addr string, policy *closingPolicy, rng *rand.Rand) bool {
	// What the connection's hooks do, told to them through the dial's
	// context.
	var mode hookMode
	switch rng.IntN(8) {
	case 0:
		mode = halfCloseAtOnce
	case 1:
		mode = closeAnother
	case 2:
		mode = readInfos
	}
	c, err := d.DialConn(context.WithValue(context.Background(), hookModeKey{}, mode), "tcp", addr)
	if err != nil {
		time.Sleep(10 * time.Millisecond)
		return false
	}
	payload := make([]byte, rng.IntN(256<<10)+1)
	if mode == halfCloseAtOnce {
		// Half-closed by its Established hook: read the peer's end.
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		io.Copy(io.Discard, c)
		c.Close()
		return true
	}
	switch rng.IntN(7) {
	case 0: // Close after the peer read everything
		c.Write(payload)
		c.CloseWrite()
		io.Copy(io.Discard, c)
		c.Close()
	case 1: // Close while a writer is still writing
		var wg sync.WaitGroup
		wg.Go(func() {
			for range 8 {
				if _, err := c.Write(payload); err != nil {
					return
				}
			}
		})
		time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
		c.Close()
		wg.Wait()
	case 2: // closed underneath through NetConn
		c.Write(payload)
		c.NetConn().Close()
		time.Sleep(5 * time.Millisecond)
		c.Close()
	case 3: // closed underneath through a File descriptor
		f, err := c.File()
		if err == nil {
			c.NetConn().Close()
			f.Close()
		}
	case 4: // dropped without Close
		c.Write(payload)
	case 5: // a hook closes it at its next periodic sample
		policy.closeAtNextSample(c)
		c.Write(payload)
		time.Sleep(5 * time.Millisecond)
		c.Close()
	case 6: // reset: linger 0, then Close
		c.Write(payload)
		c.SetLinger(0)
		c.Close()
	}
	return true
}

// serveSoak echoes nothing: it reads until the end and closes, or resets
// one connection in eight.
func serveSoak(c *mptcpx.Conn) {
	if rand.IntN(8) == 0 {
		time.Sleep(time.Millisecond)
		c.SetLinger(0)
		c.Close()
		return
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	io.Copy(io.Discard, c)
	c.Close()
}

// copyOf copies a Reader by value, as the soak's careless user does
// (through reflect, which go vet's copylocks check does not follow).
func copyOf(r *mptcpinfo.Reader) *mptcpinfo.Reader {
	cp := new(mptcpinfo.Reader)
	reflect.ValueOf(cp).Elem().Set(reflect.ValueOf(r).Elem())
	return cp
}

// hookMode says what a connection's hooks do besides the policy's closing.
type hookMode uint8

const (
	plainHooks      hookMode = iota
	halfCloseAtOnce          // CloseWrite from Established
	closeAnother             // Close another live connection from Sampled
	readInfos                // Info of itself and of another from Sampled
)

type hookModeKey struct{}

// closingPolicy is a policy that closes chosen connections from their
// Sampled hook, installed beside the OpenTelemetry instrumentation; and
// hooks that call back into connections (hookMode).
type closingPolicy struct {
	// live holds recent connections, weakly, for the hooks that act on
	// another connection.
	liveMu   sync.Mutex
	live     [256]weak.Pointer[mptcpx.Conn]
	liveNext int

	closedOther, halfClosed, infos atomic.Int64

	mu    sync.Mutex
	chose map[*mptcpx.Conn]bool
	// twice counts connections whose Closed hook ran more than once
	// (the OpenTelemetry SDK ignores a second End, so the spans alone
	// would not show it).
	twice atomic.Int64
}

func (p *closingPolicy) closeAtNextSample(c *mptcpx.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.chose == nil {
		p.chose = map[*mptcpx.Conn]bool{}
	}
	p.chose[c] = true
}

// take reports whether c was chosen, and forgets it.
func (p *closingPolicy) take(c *mptcpx.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	chosen := p.chose[c]
	delete(p.chose, c)
	return chosen
}

func (p *closingPolicy) DialStart(ctx context.Context, s conntrace.DialStart) (context.Context, conntrace.ConnHooks) {
	mode, _ := ctx.Value(hookModeKey{}).(hookMode)
	return ctx, &policyConn{p: p, mode: mode}
}

// remember adds c to the live connections; another returns one of them
// (nil when it was collected).
func (p *closingPolicy) remember(c *mptcpx.Conn) {
	p.liveMu.Lock()
	p.live[p.liveNext%len(p.live)] = weak.Make(c)
	p.liveNext++
	p.liveMu.Unlock()
}

func (p *closingPolicy) another() *mptcpx.Conn {
	p.liveMu.Lock()
	defer p.liveMu.Unlock()
	return p.live[rand.IntN(len(p.live))].Value()
}

func (p *closingPolicy) Accepted(c net.Conn, at time.Time) conntrace.ConnHooks {
	return &policyConn{p: p}
}

// policyConn closes its connection from Sampled when the policy chose it.
// It holds the connection weakly: a hook that kept it would keep a dropped
// connection from being collected.
type policyConn struct {
	conntrace.NopConnHooks
	mode   hookMode
	p      *closingPolicy
	conn   weak.Pointer[mptcpx.Conn]
	closed atomic.Int32
}

func (pc *policyConn) Established(c net.Conn, at time.Time) {
	mc := c.(*mptcpx.Conn)
	pc.conn = weak.Make(mc)
	pc.p.remember(mc)
	if pc.mode == halfCloseAtOnce {
		mc.CloseWrite()
		pc.p.halfClosed.Add(1)
	}
}

func (pc *policyConn) Sampled(s *conntrace.Sample) {
	if !s.First && !s.Final {
		switch pc.mode {
		case closeAnother:
			if o := pc.p.another(); o != nil && o != pc.conn.Value() {
				o.Close()
				pc.p.closedOther.Add(1)
			}
		case readInfos:
			if c := pc.conn.Value(); c != nil {
				c.Info()
			}
			if o := pc.p.another(); o != nil {
				o.Info()
			}
			pc.p.infos.Add(1)
		}
	}
	if c := pc.conn.Value(); c != nil && !s.Final && pc.p.take(c) {
		c.Close()
	}
}

func (pc *policyConn) Closed(at time.Time) {
	if pc.closed.Add(1) == 2 {
		pc.p.twice.Add(1)
	}
	if c := pc.conn.Value(); c != nil {
		pc.p.take(c)
	}
}

// spanCounter counts the mptcp.connection spans that end, by role. It
// keeps nothing per span: the heap must show the library's memory.
type spanCounter struct {
	client, server atomic.Int64
}

func (sc *spanCounter) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (sc *spanCounter) Shutdown(context.Context) error                  { return nil }
func (sc *spanCounter) ForceFlush(context.Context) error                { return nil }

func (sc *spanCounter) OnEnd(s sdktrace.ReadOnlySpan) {
	if s.Name() != "mptcp.connection" {
		return
	}
	if v, _ := oteltest.Attr(s.Attributes(), "mptcp.role"); v.AsString() == "server" {
		sc.server.Add(1)
	} else {
		sc.client.Add(1)
	}
}

func (sc *spanCounter) ended() (client, server int) {
	return int(sc.client.Load()), int(sc.server.Load())
}
