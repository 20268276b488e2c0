package sockdiag

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mptcpx/mptcpx/internal/benchcmp"
	"github.com/mptcpx/mptcpx/internal/testbed"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// The benchmarks run in the namespaces of a fresh test bed (root), so that
// a dump lists the benchmark's sockets and no one else's: Client holds
// the sockets measured, Server (for BenchmarkForeign) sockets of another
// namespace. Both ends of every loopback connection are MPTCP sockets of
// the namespace; the counts below are sockets, two per connection.
//
// Each benchmark is an A/B comparison run interleaved by benchcmp
// (baseline and candidate in 16 alternating chunks, medians, ratio): the
// baseline is one getsockopt(MPTCP_INFO) per followed socket through its
// RawConn (mptcpinfo.Reader.ReadInfo, what the sampler does today), the
// candidate one dump whose callback looks each cookie up in a map of the
// followed sockets (what an engine would do). ratio < 1: the dump is
// cheaper. Every round checks that the dump found every followed socket and
// that every getsockopt returned a token.
//
//	sudo go test -run '^$' -bench . -benchtime 200x ./internal/sockdiag

// benchBed returns a one-path test bed for b.
func benchBed(b *testing.B) *testbed.Bed {
	b.Helper()
	return testbed.New(b, testbed.Config{Paths: 1})
}

// openIn opens n loopback MPTCP connections inside ns (2n sockets),
// closed when b ends.
func openIn(b *testing.B, ns *testbed.NS, n int) []*own {
	b.Helper()
	if n == 0 {
		return nil
	}
	var conns []*net.TCPConn
	err := ns.Do(func() error {
		var lc net.ListenConfig
		lc.SetMultipathTCP(true)
		l, err := lc.Listen(context.Background(), "tcp4", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer l.Close()
		conns, err = dialPairs(l.(*net.TCPListener), n)
		return err
	})
	b.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	socks := make([]*own, len(conns))
	for i, c := range conns {
		socks[i] = newOwn(b, c)
	}
	return socks
}

// holdIn starts a child process in ns that holds n loopback MPTCP
// connections (2n sockets) until b ends.
func holdIn(b *testing.B, ns *testbed.NS, n int) {
	b.Helper()
	if n == 0 {
		return
	}
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := childCmd(self, fmt.Sprintf("hold %d", n))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := ns.Do(cmd.Start); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		b.Fatalf("the child holding %d connections: %q, %v", n, line, err)
	}
	go io.Copy(io.Discard, stdout)
}

// dumperIn opens a Dumper in ns, closed when b ends.
func dumperIn(b *testing.B, ns *testbed.NS) *Dumper {
	b.Helper()
	var d *Dumper
	if err := ns.Do(func() (err error) { d, err = Open(); return err }); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	return d
}

// compare runs the A/B comparison: getsockopt on every followed socket
// against one dump of family (0: both) matched by cookie. listed is how
// many sockets each dump must list at least.
func compare(b *testing.B, d *Dumper, family int, followed []*own, listed int) {
	b.Helper()
	byCookie := make(map[uint64]*own, len(followed))
	for _, o := range followed {
		byCookie[o.cookie] = o
	}
	var r mptcpinfo.Reader
	var snap mptcpinfo.Snapshot
	var n, matched int
	match := func(s *Socket) {
		n++
		if byCookie[s.Cookie] != nil && s.InfoLen > 0 {
			matched++
		}
	}
	dump := func() (int, error) {
		if family == 0 {
			return d.Dump(match)
		}
		return d.DumpFamily(family, match)
	}
	// The thread's CPU time, beside benchcmp's wall time: both ways run
	// on this thread, in the kernel mostly (netlink_dump runs inside the
	// recvfrom that takes the previous datagram), so it is their cost
	// however busy the machine is.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// Room for every round, so that recording a time allocates nothing
	// inside the rounds benchcmp counts allocations in.
	baseCPU, candCPU := make([]float64, 0, benchcmp.Rounds), make([]float64, 0, benchcmp.Rounds)
	b.ReportAllocs()
	benchcmp.Run(b,
		func(k int) {
			t0 := threadCPU()
			for range k {
				for _, o := range followed {
					if err := r.ReadInfo(o.rc, &snap); err != nil || snap.Info.Token == 0 {
						b.Fatalf("getsockopt(MPTCP_INFO): token %#x, %v", snap.Info.Token, err)
					}
				}
			}
			baseCPU = append(baseCPU, float64(threadCPU()-t0)/float64(k))
		},
		func(k int) {
			t0 := threadCPU()
			for range k {
				n, matched = 0, 0
				if _, err := dump(); err != nil {
					b.Fatal(err)
				}
				if n < listed || matched != len(followed) {
					b.Fatalf("a dump listed %d sockets (want %d at least), %d of the %d followed", n, listed, matched, len(followed))
				}
			}
			candCPU = append(candCPU, float64(threadCPU()-t0)/float64(k))
		})
	bm, cm := benchcmp.Median(baseCPU), benchcmp.Median(candCPU)
	b.ReportMetric(bm, "base-cpu-ns/op")
	b.ReportMetric(cm, "cand-cpu-ns/op")
	b.ReportMetric(cm/bm, "cpu-ratio")
	runtime.KeepAlive(followed)
}

// threadCPU returns the CPU time the calling thread has used, user and
// system, in nanoseconds.
func threadCPU() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		panic(err)
	}
	return ts.Nano()
}

// BenchmarkDumpEmpty: the fixed cost of a dump, in a namespace without
// MPTCP sockets: the kernel walks its whole token table (one bucket per MB
// of memory, up to 64K, every namespace's sockets in it) once per request.
func BenchmarkDumpEmpty(b *testing.B) {
	bed := benchBed(b)
	d := dumperIn(b, bed.Client)
	for _, tc := range []struct {
		name   string
		family int
	}{{"both", 0}, {"inet", unix.AF_INET}} {
		b.Run("family="+tc.name, func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ReportAllocs()
			t0 := threadCPU()
			for b.Loop() {
				var n int
				var err error
				if tc.family == 0 {
					n, err = d.Dump(func(*Socket) {})
				} else {
					n, err = d.DumpFamily(tc.family, func(*Socket) {})
				}
				if err != nil || n != 0 {
					b.Fatalf("dump: %d sockets, %v", n, err)
				}
			}
			b.ReportMetric(float64(threadCPU()-t0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkDumpVsGetsockopt: N followed sockets, all the namespace holds.
func BenchmarkDumpVsGetsockopt(b *testing.B) {
	for _, sockets := range []int{100, 1000, 8000, 16000} {
		b.Run(fmt.Sprintf("sockets=%d", sockets), func(b *testing.B) {
			bed := benchBed(b)
			followed := openIn(b, bed.Client, sockets/2)
			d := dumperIn(b, bed.Client)
			b.Run("family=both", func(b *testing.B) { compare(b, d, 0, followed, sockets) })
			b.Run("family=inet", func(b *testing.B) { compare(b, d, unix.AF_INET, followed, sockets) })
		})
	}
}

// BenchmarkForeign: a few followed sockets among many that belong to
// another process of the same namespace (the dump lists and the callback
// sees them all), or to another namespace (the kernel walks past them).
func BenchmarkForeign(b *testing.B) {
	for _, tc := range []struct {
		own, foreign int
		otherNS      bool
	}{
		{10, 0, false}, {10, 1000, false}, {10, 8000, false}, {10, 8000, true},
		{1000, 0, false}, {1000, 1000, false}, {1000, 4000, false}, {1000, 8000, false}, {1000, 8000, true},
	} {
		where := "samens"
		if tc.otherNS {
			where = "otherns"
		}
		b.Run(fmt.Sprintf("own=%d/foreign=%d/%s", tc.own, tc.foreign, where), func(b *testing.B) {
			bed := benchBed(b)
			followed := openIn(b, bed.Client, tc.own/2)
			listed := tc.own
			if tc.otherNS {
				holdIn(b, bed.Server, tc.foreign/2)
			} else {
				holdIn(b, bed.Client, tc.foreign/2)
				listed += tc.foreign
			}
			d := dumperIn(b, bed.Client)
			compare(b, d, unix.AF_INET, followed, listed)
		})
	}
}

// BenchmarkCold is BenchmarkDumpVsGetsockopt (one family) with the caches
// emptied before each dump and before each round of getsockopt (64 MiB
// written, twice the L3 cache of the machine of the figures): a sampler
// reads each connection once per interval, and in between other work
// evicts the connection's kernel structures. The eviction is not timed.
// Metrics as in BenchmarkDumpVsGetsockopt, medians over the iterations.
func BenchmarkCold(b *testing.B) {
	evict := make([]byte, 64<<20)
	touch := func() {
		for i := 0; i < len(evict); i += 64 {
			evict[i]++
		}
	}
	for _, sockets := range []int{100, 1000, 8000} {
		b.Run(fmt.Sprintf("sockets=%d", sockets), func(b *testing.B) {
			bed := benchBed(b)
			followed := openIn(b, bed.Client, sockets/2)
			d := dumperIn(b, bed.Client)
			byCookie := make(map[uint64]*own, len(followed))
			for _, o := range followed {
				byCookie[o.cookie] = o
			}
			var r mptcpinfo.Reader
			var snap mptcpinfo.Snapshot
			var n, matched int
			match := func(s *Socket) {
				n++
				if byCookie[s.Cookie] != nil && s.InfoLen > 0 {
					matched++
				}
			}
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var baseCPU, candCPU, baseWall, candWall []float64
			for b.Loop() {
				b.StopTimer()
				touch()
				b.StartTimer()
				w, c := time.Now(), threadCPU()
				n, matched = 0, 0
				if _, err := d.DumpFamily(unix.AF_INET, match); err != nil {
					b.Fatal(err)
				}
				candCPU = append(candCPU, float64(threadCPU()-c))
				candWall = append(candWall, float64(time.Since(w)))
				if n < sockets || matched != len(followed) {
					b.Fatalf("a dump listed %d sockets (want %d at least), %d of the %d followed", n, sockets, matched, len(followed))
				}
				b.StopTimer()
				touch()
				b.StartTimer()
				w, c = time.Now(), threadCPU()
				for _, o := range followed {
					if err := r.ReadInfo(o.rc, &snap); err != nil || snap.Info.Token == 0 {
						b.Fatalf("getsockopt(MPTCP_INFO): token %#x, %v", snap.Info.Token, err)
					}
				}
				baseCPU = append(baseCPU, float64(threadCPU()-c))
				baseWall = append(baseWall, float64(time.Since(w)))
			}
			bc, cc := benchcmp.Median(baseCPU), benchcmp.Median(candCPU)
			bw, cw := benchcmp.Median(baseWall), benchcmp.Median(candWall)
			b.ReportMetric(bc, "base-cpu-ns/op")
			b.ReportMetric(cc, "cand-cpu-ns/op")
			b.ReportMetric(cc/bc, "cpu-ratio")
			b.ReportMetric(bw, "base-ns/op")
			b.ReportMetric(cw, "cand-ns/op")
			b.ReportMetric(cw/bw, "ratio")
			runtime.KeepAlive(followed)
		})
	}
}
