package mptcpx_test

import (
	"net"
	"runtime"
	"testing"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/internal/benchcmp"
	"github.com/mptcpx/mptcpx/internal/testenv"
)

// BenchmarkHeapPerConn reports the heap mptcpx adds to an idle connection:
// the wrapper, the follower and the scheduler's per-connection state, measured
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
		opts []mptcpx.Option
	}{{"events=off", []mptcpx.Option{mptcpx.WithoutPathEvents()}}, {"events=default", nil}} {
		b.Run(c.name, func(b *testing.B) {
			wrapped := mptcpx.NewDialer(nil, c.opts...)
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
