package mibstat

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/mptcpx/mptcpx/internal/pmevents"
	"github.com/mptcpx/mptcpx/internal/testbed"
	"github.com/mptcpx/mptcpx/internal/testenv"
)

// settle is how long a test keeps reading after the counters it waited for
// moved, so that a counter that moves late (or twice) is seen.
const settle = 300 * time.Millisecond

// afterSettling reads every side again once settle has passed.
func afterSettling(t testing.TB, sides ...*counters) {
	t.Helper()
	time.Sleep(settle)
	for _, c := range sides {
		c.read(t)
		t.Log(c.moved())
	}
}

// TestJoinCounters: a connection over a two-path bed, which opens one
// extra subflow from the client's endpoint. The client's namespace counts
// the MP_CAPABLE handshake it started and the join it sent, the server's
// the ones it received, and neither counts the other side's; the test
// process's own namespace counts none of it. A Reader opened in a
// namespace keeps reading that namespace from the test's goroutine.
func TestJoinCounters(t *testing.T) {
	testenv.CheckSockets(t)
	b := testbed.New(t, testbed.Config{Paths: 2})
	host, cl, sv := watch(t, nil), watch(t, b.Client), watch(t, b.Server)
	s := serve(t, b.Server)
	c := dial(t, b.Client, b.ServerAddr(0).String(), s.port)
	exchange(t, c)
	cl.waitFor(t, "the client's join", func() bool { return cl.grew(MPJoinSynAckRx, 1) })
	sv.waitFor(t, "the server's join", func() bool { return sv.grew(MPJoinAckRx, 1) })
	afterSettling(t, cl, sv, host)

	cl.wantPresent(t, MPCapableSYNTX, 1)
	cl.wantPresent(t, MPCapableSYNACKRX, 1)
	cl.wantPresent(t, MPJoinSynAckRx, 1)
	cl.want(t, MPJoinSynTx, 1) // absent on 6.1
	for _, ctr := range []Counter{MPCapableSYNRX, MPCapableACKRX, MPJoinSynRx, MPJoinAckRx, MPJoinRejected} {
		cl.want(t, ctr, 0)
	}
	sv.wantPresent(t, MPCapableSYNRX, 1)
	sv.wantPresent(t, MPCapableACKRX, 1)
	sv.wantPresent(t, MPJoinSynRx, 1)
	sv.wantPresent(t, MPJoinAckRx, 1)
	for _, ctr := range []Counter{MPCapableSYNTX, MPCapableSYNACKRX, MPJoinSynTx, MPJoinSynAckRx, MPJoinRejected} {
		sv.want(t, ctr, 0)
	}
	// The bed's namespaces are new: one connection established on each
	// side.
	for _, side := range []*counters{cl, sv} {
		if v, ok := side.now.Get(MPCurrEstab); ok && v != 1 {
			t.Errorf("%s: MPCurrEstab = %d, want 1", side.name, v)
		}
	}
	// Nothing of it in the test's own namespace (no program on this
	// machine makes joins in it: it has no endpoints).
	for _, ctr := range []Counter{MPJoinSynTx, MPJoinSynRx, MPJoinSynAckRx, MPJoinAckRx} {
		host.want(t, ctr, 0)
	}
	// MPCurrEstab is a gauge: it goes back down when the connection ends.
	if cl.now.Has(MPCurrEstab) {
		c.Close()
		cl.waitFor(t, "MPCurrEstab back to 0 after Close", func() bool { v, _ := cl.now.Get(MPCurrEstab); return v == 0 })
	}
}

// TestJoinRejected: the server's namespace allows no extra subflow
// (`ip mptcp limits set subflows 0`) while the client has a subflow
// endpoint. The server answers the MP_JOIN SYN, then refuses the join at
// the third ACK and resets it (MP_TCPRST, administratively prohibited).
// Measured: the client counts MPJoinSynTx (not on 6.1), MPJoinSynAckRx and
// MPRstTx; the server MPJoinSynRx and, since the counter exists (not on
// 6.1 nor 6.12), MPJoinRejected, but not MPJoinAckRx: on older kernels a
// rejected join shows on the server only as an MPJoinSynRx without its
// MPJoinAckRx.
func TestJoinRejected(t *testing.T) {
	testenv.CheckSockets(t)
	b := testbed.New(t, testbed.Config{Paths: 2})
	if _, err := b.Server.Run("ip", "mptcp", "limits", "set", "subflows", "0", "add_addr_accepted", "0"); err != nil {
		t.Fatal(err)
	}
	cl, sv := watch(t, b.Client), watch(t, b.Server)
	s := serve(t, b.Server)
	c := dial(t, b.Client, b.ServerAddr(0).String(), s.port)
	exchange(t, c)
	cl.waitFor(t, "the client's reset of the join", func() bool { return cl.grew(MPJoinSynAckRx, 1) && cl.grew(MPRstTx, 1) })
	sv.waitFor(t, "the server's refusal", func() bool {
		return sv.grew(MPJoinSynRx, 1) && (!sv.now.Has(MPJoinRejected) || sv.grew(MPJoinRejected, 1))
	})
	afterSettling(t, cl, sv)

	cl.want(t, MPJoinSynTx, 1)
	cl.wantPresent(t, MPJoinSynAckRx, 1)
	cl.wantPresent(t, MPRstTx, 1)
	cl.wantPresent(t, MPRstRx, 0)
	sv.wantPresent(t, MPJoinSynRx, 1)
	sv.wantPresent(t, MPJoinAckRx, 0)
	sv.wantPresent(t, MPJoinAckHMacFailure, 0)
	sv.want(t, MPJoinRejected, 1)
	sv.wantPresent(t, MPRstTx, 0)
	if sv.now.Has(MPJoinRejected) {
		feature("mib_join_rejected", "MPJoinRejected (server)")
	} else {
		feature("mib_join_rejected", "no counter (server: MPJoinSynRx without MPJoinAckRx; client: MPRstTx)")
	}
}

// TestAddAddrNotAccepted: the server announces a second address (a signal
// endpoint) to a client whose namespace accepts none
// (`add_addr_accepted 0`). The client acknowledges the announcement (an
// echo) and ignores it: no join, and no drop counted. The only trace is
// AddAddr without a join following it (and, per connection,
// mptcp_info.add_addr_accepted_max = 0).
func TestAddAddrNotAccepted(t *testing.T) {
	testenv.CheckSockets(t)
	b := testbed.New(t, testbed.Config{Paths: 2, ServerSignal: true})
	if _, err := b.Client.Run("ip", "mptcp", "limits", "set", "subflows", "8", "add_addr_accepted", "0"); err != nil {
		t.Fatal(err)
	}
	cl, sv := watch(t, b.Client), watch(t, b.Server)
	s := serve(t, b.Server)
	c := dial(t, b.Client, b.ServerAddr(0).String(), s.port)
	exchange(t, c)
	cl.waitFor(t, "the announcement", func() bool { return cl.grew(AddAddr, 1) })
	sv.waitFor(t, "the echo", func() bool { return sv.grew(EchoAdd, 1) })
	afterSettling(t, cl, sv)

	cl.wantPresent(t, AddAddr, 1)
	cl.want(t, EchoAddTx, 1) // absent on 6.1
	cl.wantPresent(t, AddAddrDrop, 0)
	cl.wantPresent(t, MPJoinSynAckRx, 0)
	cl.want(t, MPJoinSynTx, 0)
	sv.want(t, AddAddrTx, 1) // absent on 6.1
	sv.wantPresent(t, EchoAdd, 1)
	sv.wantPresent(t, MPJoinSynRx, 0)
}

// userspacePM switches ns to the userspace path manager.
func userspacePM(t testing.TB, ns *testbed.NS) {
	t.Helper()
	sysctl := "net.mptcp.pm_type=1"
	if _, err := ns.Run("cat", "/proc/sys/net/mptcp/path_manager"); err == nil {
		sysctl = "net.mptcp.path_manager=userspace"
	}
	if _, err := ns.Run("sysctl", "-w", sysctl); err != nil {
		t.Fatal(err)
	}
}

// TestAddAddrDroppedUserspacePM: the client's namespace uses the userspace
// path manager and no daemon listens for its events. The kernel then drops
// every ADD_ADDR it receives, without an echo: AddAddrDrop moves with
// AddAddr. The server, which hears no echo, announces again, up to 3
// times: on 6.18 the retransmissions came within fractions of a second on
// the test bed, on 6.1 and 6.12 none within 1.5 s (add_addr_timeout,
// 120 s, apart).
//
// "No daemon listens" is decided machine-wide: the kernel asks whether any
// socket, in any network namespace, has joined mptcp_pm_events
// (genl_has_listeners reads netlink's global table of listeners; see
// TestAddAddrUserspacePMListenerElsewhere). On a machine where another
// program listens (a test of package pmevents, a process of this library
// receiving path events), the announcement is echoed instead, and one that
// starts listening between the first announcement and its retransmission
// gets the first dropped and the next echoed; the test then checks that
// every announcement was either dropped or echoed, except in the kernel
// matrix's virtual machines, where nothing else runs and the drop must
// happen.
func TestAddAddrDroppedUserspacePM(t *testing.T) {
	testenv.CheckSockets(t)
	b := testbed.New(t, testbed.Config{Paths: 2, ServerSignal: true})
	userspacePM(t, b.Client)
	cl, sv := watch(t, b.Client), watch(t, b.Server)
	s := serve(t, b.Server)
	c := dial(t, b.Client, b.ServerAddr(0).String(), s.port)
	exchange(t, c)
	cl.waitFor(t, "the announcement", func() bool { return cl.grew(AddAddr, 1) })
	afterSettling(t, cl, sv)

	added, _ := cl.delta(AddAddr)
	if dropped, _ := cl.delta(AddAddrDrop); dropped != added && !inVM() {
		t.Logf("the client echoed %d of %d announcements instead of dropping them: another socket on this machine has joined mptcp_pm_events", added-min(dropped, added), added)
		checkEchoedUserspace(t, cl, sv, added, dropped)
		return
	}
	cl.wantPresent(t, AddAddrDrop, added)
	cl.want(t, EchoAddTx, 0)
	cl.wantPresent(t, MPJoinSynAckRx, 0)
	sv.wantPresent(t, EchoAdd, 0)
	if tx, ok := sv.delta(AddAddrTx); ok && tx != added {
		t.Errorf("the server sent %d ADD_ADDR, the client received %d", tx, added)
	}
	t.Logf("%d announcements received and dropped", added)
	feature("mib_add_addr_dropped", "AddAddrDrop (client, userspace PM, no mptcp_pm_events listener on the machine)")
}

// TestAddAddrUserspacePMListenerElsewhere: the same, with a socket of the
// test that joined mptcp_pm_events in the server's namespace, not the
// client's. The client's kernel takes it for its daemon: it echoes the
// announcement (and, having no daemon to ask, opens no subflow). The
// kernel's "is a userspace path manager running" is machine-wide.
func TestAddAddrUserspacePMListenerElsewhere(t *testing.T) {
	testenv.CheckSockets(t)
	b := testbed.New(t, testbed.Config{Paths: 2, ServerSignal: true})
	userspacePM(t, b.Client)
	var l *pmevents.Listener
	if err := b.Server.Do(func() (err error) { l, err = pmevents.Open(); return err }); err != nil {
		if errors.Is(err, pmevents.ErrUnsupported) {
			t.Skipf("no path-manager events on this kernel: %v", err)
		}
		t.Fatal(err)
	}
	defer l.Close()
	cl, sv := watch(t, b.Client), watch(t, b.Server)
	s := serve(t, b.Server)
	c := dial(t, b.Client, b.ServerAddr(0).String(), s.port)
	exchange(t, c)
	cl.waitFor(t, "the announcement", func() bool { return cl.grew(AddAddr, 1) })
	sv.waitFor(t, "the echo", func() bool { return sv.grew(EchoAdd, 1) })
	afterSettling(t, cl, sv)
	added, _ := cl.delta(AddAddr)
	checkEchoedUserspace(t, cl, sv, added, 0)
	feature("mib_userspace_pm_active", "any mptcp_pm_events listener on the machine, in any namespace")
}

// checkEchoedUserspace checks the counters of a client under the userspace
// path manager that believes a daemon runs: every announcement echoed but
// the dropped ones (received before a listener came), no join.
func checkEchoedUserspace(t *testing.T, cl, sv *counters, added, dropped uint64) {
	t.Helper()
	if dropped > added {
		t.Errorf("%d announcements dropped, %d received", dropped, added)
		return
	}
	cl.want(t, EchoAddTx, added-dropped)
	cl.wantPresent(t, MPJoinSynAckRx, 0)
	sv.wantPresent(t, EchoAdd, added-dropped)
}

// inVM reports whether the test runs in one of the kernel matrix's virtual
// machines (not in its run on the host).
func inVM() bool {
	return testenv.KernelMatrix() && os.Getenv("MPTCPX_KERNEL_MATRIX_KERNEL") != "host"
}
