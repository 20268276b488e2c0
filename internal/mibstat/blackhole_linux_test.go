package mibstat

import (
	"fmt"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mptcpx/mptcpx/internal/testbed"
	"github.com/mptcpx/mptcpx/internal/testenv"
)

// blackhole makes the server's namespace drop every SYN that carries an
// MPTCP option, as a middlebox that does not know MPTCP may; plain SYNs
// pass.
func blackhole(t testing.TB, ns *testbed.NS) {
	t.Helper()
	for _, rule := range [][]string{
		{"add", "table", "inet", "mptcpx"},
		{"add", "chain", "inet", "mptcpx", "in", "{ type filter hook input priority 0; }"},
		{"add", "rule", "inet", "mptcpx", "in", "tcp", "flags", "syn", "/", "syn,ack", "tcp", "option", "mptcp", "exists", "drop"},
	} {
		if _, err := ns.Run(append([]string{"nft"}, rule...)...); err != nil {
			t.Fatal(err)
		}
	}
}

func noBlackhole(t testing.TB, ns *testbed.NS) {
	t.Helper()
	if _, err := ns.Run("nft", "delete", "table", "inet", "mptcpx"); err != nil {
		t.Fatal(err)
	}
}

// TestBlackhole: what the kernel does (6.12 and later: 6.1 has no
// Blackhole counter and no blackhole_timeout) when MP_CAPABLE SYNs are
// dropped on the way while plain SYNs pass, and how it shows. Measured on
// 6.18 with the defaults (syn_retrans_before_tcp_fallback 2,
// blackhole_timeout 3600):
//
//   - The first dial takes about 3 s (the SYN, its retransmissions after 1
//     and 3 s; the last one goes without MP_CAPABLE and is answered). The
//     client counts MPCapableSYNTX, MPCapableSYNTXDrop and, when the plain
//     SYN-ACK arrives, Blackhole; the server counts nothing (it saw a plain
//     SYN). The client's socket stays an MPTCP socket (SO_PROTOCOL 262)
//     that fell back: MultipathTCP() false, TCP_IS_MPTCP 0, MPTCP_INFO
//     EOPNOTSUPP; the server's is a TCP socket (SO_PROTOCOL 6).
//   - From then on active MPTCP is off in the client's namespace: dials are
//     plain TCP at once (MPCapableSYNTXDisabled, no MPCapableSYNTX), even
//     once the middlebox is gone, for blackhole_timeout, doubled at each
//     further detection (up to 64 times) until an MPTCP connection
//     succeeds. Nothing shows that state but these counters.
//   - MPCurrEstab counts the client's fallen-back connection: it counts
//     MPTCP sockets in the established state, fallbacks included.
//   - Writing blackhole_timeout (any value, the same one too) turns active
//     MPTCP back on at once; 0 turns the detection off, and then every
//     dial through the blackhole pays the retransmissions again
//     (MPCapableSYNTXDrop each time, no Blackhole), and active MPTCP stays
//     on.
func TestBlackhole(t *testing.T) {
	if _, err := exec.LookPath("nft"); err != nil {
		if testenv.KernelMatrix() {
			t.Skip("no nft(8) in the kernel matrix's virtual machines: the blackhole needs it")
		}
		testenv.Skip(t, "needs nft(8) (Debian package nftables) to drop MPTCP SYNs")
	}
	testenv.CheckSockets(t)
	b := testbed.New(t, testbed.Config{Paths: 1})
	cl, sv := watch(t, b.Client), watch(t, b.Server)
	if !cl.now.Has(Blackhole) {
		t.Skip("no blackhole detection before Linux 6.12 (no Blackhole counter)")
	}
	s := serve(t, b.Server)
	addr := b.ServerAddr(0).String()
	type result struct {
		took           time.Duration
		client, server sockState
	}
	step := func(what string) result {
		t.Helper()
		cl.mark(t)
		sv.mark(t)
		start := time.Now()
		c := dial(t, b.Client, addr, s.port)
		r := result{took: time.Since(start)}
		exchange(t, c)
		sc := s.next(t)
		r.client, r.server = stateOf(t, c), stateOf(t, sc)
		time.Sleep(100 * time.Millisecond)
		cl.read(t)
		sv.read(t)
		t.Logf("%s: dial took %v\n  client %v\n  server %v\n  %s\n  %s", what, r.took.Round(time.Millisecond), r.client, r.server, cl.moved(), sv.moved())
		return r
	}
	setSysctl := func(name, value string) {
		t.Helper()
		if _, err := b.Client.Run("sysctl", "-w", "net.mptcp."+name+"="+value); err != nil {
			t.Fatal(err)
		}
	}
	isFallback := func(what string, r result) {
		t.Helper()
		if r.client.Multipath || r.client.Protocol != unix.IPPROTO_MPTCP || r.client.InfoErr != unix.EOPNOTSUPP || r.client.IsMPTCP > 0 {
			t.Errorf("%s: client socket %v, want an MPTCP socket fallen back to TCP", what, r.client)
		}
		if r.server.Protocol != unix.IPPROTO_TCP {
			t.Errorf("%s: server socket %v, want a TCP socket", what, r.server)
		}
	}
	isMPTCP := func(what string, r result) {
		t.Helper()
		if !r.client.Multipath || r.client.InfoErr != 0 || !r.server.Multipath {
			t.Errorf("%s: client %v, server %v; want MPTCP", what, r.client, r.server)
		}
		cl.wantPresent(t, MPCapableSYNACKRX, 1)
		sv.wantPresent(t, MPCapableSYNRX, 1)
	}

	blackhole(t, b.Server)
	r := step("first dial through the blackhole")
	isFallback("first dial", r)
	cl.wantPresent(t, MPCapableSYNTX, 1)
	cl.wantPresent(t, MPCapableSYNTXDrop, 1)
	cl.wantPresent(t, Blackhole, 1)
	cl.wantPresent(t, MPCapableSYNACKRX, 0)
	sv.wantPresent(t, MPCapableSYNRX, 0)
	if v, _ := cl.now.Get(MPCurrEstab); v != 1 {
		t.Errorf("client MPCurrEstab = %d with one fallen-back connection open, want 1", v)
	}
	if r.took < time.Second {
		t.Errorf("the first dial took %v, less than the first SYN retransmission timeout (1 s)", r.took)
	}
	feature("mib_blackhole", fmt.Sprintf("Blackhole+MPCapableSYNTXDrop, first dial about %.0f s; then MPCapableSYNTXDisabled", r.took.Seconds()))

	r = step("second dial, active MPTCP off")
	isFallback("second dial", r)
	cl.wantPresent(t, MPCapableSYNTXDisabled, 1)
	cl.wantPresent(t, MPCapableSYNTX, 0)
	cl.wantPresent(t, Blackhole, 0)
	if r.took >= time.Second {
		t.Errorf("with active MPTCP off the dial took %v: a SYN was retransmitted", r.took)
	}

	noBlackhole(t, b.Server)
	r = step("blackhole gone, active MPTCP still off")
	isFallback("after the blackhole", r)
	cl.wantPresent(t, MPCapableSYNTXDisabled, 1)

	setSysctl("blackhole_timeout", "3600")
	isMPTCP("after writing blackhole_timeout", step("after writing blackhole_timeout"))

	// A short timeout ends the period on its own, doubled by each further
	// detection; an MPTCP connection that succeeds resets the doubling.
	setSysctl("blackhole_timeout", "1")
	blackhole(t, b.Server)
	step("blackhole, timeout 1 s")
	cl.wantPresent(t, Blackhole, 1)
	time.Sleep(1200 * time.Millisecond)
	step("blackhole, 1.2 s later: active MPTCP on again, second detection")
	cl.wantPresent(t, MPCapableSYNTX, 1)
	cl.wantPresent(t, Blackhole, 1)
	noBlackhole(t, b.Server)
	time.Sleep(1200 * time.Millisecond)
	step("1.2 s after the second detection: off for 2 s")
	cl.wantPresent(t, MPCapableSYNTXDisabled, 1)
	time.Sleep(1000 * time.Millisecond)
	isMPTCP("2.2 s after the second detection", step("2.2 s after the second detection"))
	blackhole(t, b.Server)
	step("blackhole after an MPTCP success")
	cl.wantPresent(t, Blackhole, 1)
	noBlackhole(t, b.Server)
	time.Sleep(1200 * time.Millisecond)
	isMPTCP("1.2 s after a detection that followed a success", step("1.2 s after a detection that followed a success: back to 1 s"))

	// Timeout 0: no detection; the dial through the blackhole still pays
	// the retransmissions, but active MPTCP stays on.
	setSysctl("blackhole_timeout", "0")
	blackhole(t, b.Server)
	r = step("blackhole, timeout 0")
	isFallback("timeout 0", r)
	cl.wantPresent(t, MPCapableSYNTXDrop, 1)
	cl.wantPresent(t, Blackhole, 0)
	if r.took < time.Second {
		t.Errorf("with the detection off the dial took %v: no SYN retransmission", r.took)
	}
	noBlackhole(t, b.Server)
	isMPTCP("timeout 0, blackhole gone", step("timeout 0, blackhole gone"))
}
