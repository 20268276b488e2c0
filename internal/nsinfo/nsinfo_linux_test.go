package nsinfo

import (
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/mibstat"
	"github.com/mptcpx/mptcpx/internal/testbed"
	"github.com/mptcpx/mptcpx/internal/testenv"
)

// target counts Reconsider calls.
type target struct{ n atomic.Int32 }

func (t *target) Reconsider() { t.n.Add(1) }

// registry returns a registry of the test's own, flushed when t ends.
func registry(t *testing.T) *Registry {
	r := NewRegistry()
	t.Cleanup(r.Flush)
	return r
}

// socketIn returns the raw connection of a UDP socket created in ns (nil:
// the test's own namespace), closed when t ends: any socket tells its
// namespace.
func socketIn(t *testing.T, ns *testbed.NS) syscall.RawConn {
	t.Helper()
	var c *net.UDPConn
	open := func() (err error) { c, err = net.ListenUDP("udp4", nil); return err }
	var err error
	if ns == nil {
		err = open()
	} else {
		err = ns.Do(open)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// TestJoinReadsTheNamespace: the first connection of a namespace has it
// read on a goroutine of the registry: its Config (the bed's limits and
// endpoint, the in-kernel path manager), its counters, its name as `ip
// netns` gave it. The connection is told once it is read; a second one
// finds it read.
func TestJoinReadsTheNamespace(t *testing.T) {
	b := testbed.New(t, testbed.Config{Paths: 2})
	r := registry(t)
	tg := &target{}
	h := r.Join(socketIn(t, b.Client), tg)
	if h == nil {
		t.Fatal("Join returned no handle")
	}
	defer h.Leave()
	c := h.WaitConfig()
	if c == nil || c.Err != nil || c.PM == nil {
		t.Fatalf("config %+v", c)
	}
	d := c.Diag
	if !d.Entered || d.PathManager != conntrace.PathManagerKernel || !d.EndpointsKnown || len(d.Endpoints) != 1 ||
		d.Endpoints[0].Addr != b.ClientAddr(1) || !d.Endpoints[0].Subflow || !d.LimitsKnown || d.SubflowsLimit != 8 {
		t.Fatalf("diagnosis namespace %+v", d)
	}
	waitFor(t, "Reconsider", func() bool { return tg.n.Load() == 1 })
	if got := h.ns.Name(); got != b.Client.Name() {
		t.Errorf("name %q, want %q", got, b.Client.Name())
	}
	tg2 := &target{}
	h2 := r.Join(socketIn(t, b.Client), tg2)
	defer h2.Leave()
	if h2.Config() != c {
		t.Errorf("the second connection found another Config")
	}
	if r.Len() != 1 {
		t.Errorf("%d namespaces, want 1", r.Len())
	}
}

// TestRefresh: the kernel sends no event when endpoints change; Refresh
// reads the namespace again (once MinRefresh passed since the last
// reading), and the connections are told when what the diagnosis uses
// changed, not otherwise.
func TestRefresh(t *testing.T) {
	b := testbed.New(t, testbed.Config{Paths: 2})
	r := registry(t)
	tg := &target{}
	h := r.Join(socketIn(t, b.Client), tg)
	defer h.Leave()
	first := h.WaitConfig()
	waitFor(t, "the first Reconsider", func() bool { return tg.n.Load() == 1 })

	h.Refresh() // within MinRefresh: waits, then reads the same
	waitFor(t, "a new reading", func() bool { return h.Config() != first })
	time.Sleep(50 * time.Millisecond)
	if n := tg.n.Load(); n != 1 {
		t.Errorf("told %d times for an unchanged configuration", n)
	}

	if err := b.DeleteEndpoint(1); err != nil {
		t.Fatal(err)
	}
	h.Refresh()
	waitFor(t, "the endpoint's deletion seen", func() bool { c := h.Config(); return c != nil && len(c.Diag.Endpoints) == 0 })
	waitFor(t, "Reconsider after the change", func() bool { return tg.n.Load() == 2 })
}

// TestCollect: a collection reads the counters of the process's own
// namespace and of those with connections, each named.
func TestCollect(t *testing.T) {
	testenv.RequireMPTCP(t)
	b := testbed.New(t, testbed.Config{Paths: 1})
	r := registry(t)
	h := r.Join(socketIn(t, b.Server), &target{})
	h.WaitConfig()
	got := map[string]int{}
	r.Collect(func(name string, s *mibstat.Snapshot) { got[name] = s.Len() })
	if got[b.Server.Name()] == 0 {
		t.Errorf("collected %v: no counters of %s", got, b.Server.Name())
	}
	own := ""
	for name := range got {
		if name != b.Server.Name() {
			own = name
		}
	}
	if len(got) != 2 || got[own] == 0 {
		t.Errorf("collected %v, want the process's namespace too", got)
	}
	t.Logf("collected %v", got)
	h.Leave()
	// Gone from collections once it lingered (the process's own stays).
	r.mu.Lock()
	r.linger = 0
	r.mu.Unlock()
	h2 := r.Join(socketIn(t, b.Server), &target{})
	h2.Leave()
	waitFor(t, "the namespace forgotten", func() bool { return r.Len() == 1 })
}

// TestBaselineFresh: a namespace made for one connection counts only that
// connection's announcements and joins: its first connection compares
// with zero; a later one with the reading.
func TestBaselineFresh(t *testing.T) {
	testenv.RequireMPTCP(t)
	b := testbed.New(t, testbed.Config{Paths: 1})
	var c net.Conn
	err := b.Client.Do(func() (err error) {
		var d net.Dialer
		d.SetMultipathTCP(true)
		ln, err := d.Dial("tcp", "127.0.0.1:1") // refused at once: one MP_CAPABLE SYN sent
		if err == nil {
			ln.Close()
		}
		c, err = net.ListenUDP("udp4", nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc, _ := c.(*net.UDPConn).SyscallConn()
	r := registry(t)
	h := r.Join(rc, &target{})
	defer h.Leave()
	base, ok := h.Baseline()
	if !ok || base != (Baseline{}) {
		t.Fatalf("first connection: baseline %+v (%v), want zero", base, ok)
	}
	// A second connection compares with the reading: the first one's
	// join shows.
	r.mu.Lock()
	r.byNS[h.ns.cookie].last.joinSynTx = 7
	r.mu.Unlock()
	h2 := r.Join(rc, &target{})
	defer h2.Leave()
	if base2, ok := h2.Baseline(); !ok || base2.joinSynTx != 7 {
		t.Fatalf("second connection: baseline %+v (%v), want the reading", base2, ok)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestNamesOutsideNetns: a namespace without an `ip netns` name is named
// as /proc links name it.
func TestNamesOutsideNetns(t *testing.T) {
	name := threadNamespaceName()
	if _, err := os.Stat("/run/netns/" + name); name == "" || !strings.HasPrefix(name, "net:[") && err != nil {
		t.Fatalf("name %q: neither net:[INODE] nor a name of ip netns", name)
	}
	t.Logf("the test's namespace: %s", name)
}
