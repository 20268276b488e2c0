package mptcpx

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/testenv"
)

// loopbackPair returns an MPTCP client connection on loopback.
func loopbackPair(t *testing.T) *net.TCPConn {
	t.Helper()
	testenv.RequireMPTCP(t)
	var lc net.ListenConfig
	lc.SetMultipathTCP(true)
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	acc := make(chan net.Conn, 1)
	go func() { c, _ := ln.Accept(); acc <- c }()
	var d net.Dialer
	d.SetMultipathTCP(true)
	c, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-acc
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn)
}

type nopHooks struct{ samples int }

type countHooks struct {
	nopHooks
	n atomic.Int64
}

func (h *countHooks) Sampled(*conntrace.Sample) { h.n.Add(1) }

func (h *nopHooks) DialFailed(error, time.Time)     {}
func (h *nopHooks) Established(net.Conn, time.Time) {}
func (h *nopHooks) Sampled(*conntrace.Sample)       { h.samples++ }
func (h *nopHooks) Closed(time.Time)                {}

// TestSampleAllocs: sampling, change detection and the hand-off to hooks
// allocate nothing in steady state.
func TestSampleAllocs(t *testing.T) {
	c := loopbackPair(t)
	rc, _ := c.SyscallConn()
	h := &nopHooks{}
	tr := &tracked{rc: rc, interval: time.Second, hooks: h, index: -1}
	sc := new(scratch)
	tr.sample(sc, false)
	if n := testing.AllocsPerRun(500, func() { tr.sample(sc, false) }); n != 0 {
		t.Fatalf("%v allocations per sample", n)
	}
	if h.samples < 500 {
		t.Fatalf("hooks saw %d samples", h.samples)
	}
	tr.sample(sc, true)
	before := h.samples
	tr.sample(sc, false)
	if h.samples != before {
		t.Fatal("sampled after the final sample")
	}
}

// TestSchedulerSpreadsAndStops: connections registered together are spread
// over the interval, and the sampler goroutine ends with the last one.
func TestSchedulerSpreadsAndStops(t *testing.T) {
	c := loopbackPair(t)
	rc, _ := c.SyscallConn()
	sm := newSampler()
	const n, interval = 1000, time.Hour
	ts := make([]*tracked, n)
	for i := range ts {
		ts[i] = &tracked{rc: rc, interval: interval, index: -1}
		sm.start(ts[i])
	}
	sm.mu.Lock()
	running := sm.running
	// Due times are uniform over one interval from registration (a few
	// milliseconds after epoch, negligible against an hour): no tenth of
	// the interval may hold more than a fifth of the connections.
	var spread [10]int
	for _, tr := range sm.heap {
		spread[min(int(tr.due*10/interval), 9)]++
	}
	sm.mu.Unlock()
	if !running {
		t.Fatal("sampler goroutine not running with connections registered")
	}
	for i, k := range spread {
		if k > n/5 || k == 0 {
			t.Errorf("tenth %d of the interval holds %d of %d connections: %v", i, k, n, spread)
		}
	}
	for _, tr := range ts {
		sm.stop(tr)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		sm.mu.Lock()
		running, left := sm.running, len(sm.heap)
		sm.mu.Unlock()
		if !running && left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sampler still running (%v) with %d connections after the last closed", running, left)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestSchedulerSamplesPeriodically: a registered connection is sampled about
// once per interval by the shared goroutine.
func TestSchedulerSamplesPeriodically(t *testing.T) {
	c := loopbackPair(t)
	rc, _ := c.SyscallConn()
	sm := newSampler()
	h := &countHooks{}
	tr := &tracked{rc: rc, interval: 10 * time.Millisecond, hooks: h, index: -1}
	sm.start(tr)
	time.Sleep(300 * time.Millisecond)
	sm.stop(tr)
	n := h.n.Load()
	// 30 intervals: the first, ~29 periodic and the final sample. Loose
	// bounds: a loaded machine delays the timer, never multiplies samples.
	if n < 5 || n > 40 {
		t.Fatalf("%d samples in 30 intervals", n)
	}
}
