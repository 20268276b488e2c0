package integration_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/oteltest"
	"github.com/mptcpx/mptcpx/internal/testbed"
	"github.com/mptcpx/mptcpx/internal/testenv"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// The beds of the paths' diagnosis: one per value of mptcp.paths.limit,
// each a host misconfigured in one way, connections opened through the
// public API, the value read from Conn.PathsLimit, from the span
// attribute, the mptcp.paths.limit event and the metrics, and the words
// and the command from Conn.PathsDiagnosis.

// diagWait bounds the wait for a diagnosis: the path managers act within
// a round trip or two of the first data, a failed join after its SYN
// retransmissions.
const diagWait = 20 * time.Second

// requireLists skips t where the kernel lists no subflows and gives no
// mptcp_info (before 5.16): nothing to diagnose from.
func requireLists(t *testing.T) {
	t.Helper()
	if mptcpinfo.KernelMethod() == mptcpinfo.MethodProtocol {
		t.Skip("before 5.16 the kernel gives no mptcp_info: no diagnosis")
	}
}

// requireNft skips t without nft(8) (the kernel matrix's virtual machines
// have none).
func requireNft(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		if testenv.KernelMatrix() {
			t.Skip("no nft(8) in the kernel matrix's virtual machines")
		}
		testenv.Skip(t, "needs nft(8) (Debian package nftables)")
	}
}

// run runs a command in ns, failing t if it fails.
func run(t *testing.T, ns *testbed.NS, args ...string) {
	t.Helper()
	if _, err := ns.Run(args...); err != nil {
		t.Fatal(err)
	}
}

// nft adds the rules (each a string of nft words) to a table of their own
// in ns.
func nft(t *testing.T, ns *testbed.NS, rules ...string) {
	t.Helper()
	run(t, ns, "nft", "add", "table", "inet", "mptcpx")
	run(t, ns, "nft", "add", "chain", "inet", "mptcpx", "in", "{ type filter hook input priority 0; }")
	for _, r := range rules {
		run(t, ns, append([]string{"nft", "add", "rule", "inet", "mptcpx", "in"}, strings.Fields(r)...)...)
	}
}

// userspacePM switches ns to the userspace path manager
// (net.mptcp.path_manager, or pm_type before 6.15).
func userspacePM(t *testing.T, ns *testbed.NS) {
	t.Helper()
	sysctl := "net.mptcp.pm_type=1"
	if _, err := ns.Run("cat", "/proc/sys/net/mptcp/path_manager"); err == nil {
		sysctl = "net.mptcp.path_manager=userspace"
	}
	run(t, ns, "sysctl", "-w", sysctl)
}

// busy keeps data moving both ways between c and s until the returned
// function is called.
func busy(t *testing.T, c, s net.Conn) (stop func()) {
	t.Helper()
	done := make(chan struct{})
	go io.Copy(io.Discard, s)
	go io.Copy(io.Discard, c)
	go func() {
		buf := make([]byte, 1024)
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if _, err := c.Write(buf); err != nil {
				return
			}
			if _, err := s.Write(buf); err != nil {
				return
			}
		}
	}()
	return func() { close(done) }
}

// waitLimit waits until c's diagnosis is want and returns it.
func waitLimit(t *testing.T, what string, c *mptcpx.Conn, want conntrace.PathsLimit) conntrace.PathsDiagnosis {
	t.Helper()
	var d conntrace.PathsDiagnosis
	err := testbed.WaitFor(diagWait, func() (bool, error) {
		d = c.PathsDiagnosis()
		return d.Limit == want, nil
	})
	if err != nil {
		t.Fatalf("%s: mptcp.paths.limit %v (%s), want %v", what, d.Limit, d, want)
	}
	t.Logf("%s: %s\n  remedy: %s", what, d, d.Remedy())
	return d
}

// wantWords checks that d's words and remedy say what a person acts on.
func wantWords(t *testing.T, what string, d conntrace.PathsDiagnosis, words, remedy string) {
	t.Helper()
	if !strings.Contains(d.String(), words) {
		t.Errorf("%s: words %q, want them to say %q", what, d.String(), words)
	}
	if !strings.Contains(d.Remedy(), remedy) {
		t.Errorf("%s: remedy %q, want %q", what, d.Remedy(), remedy)
	}
}

// checkLimitTelemetry checks the telemetry of a closed connection whose
// last diagnosis was want: the span attribute, the last mptcp.paths.limit
// event (returned), the connection counted closed under its limit.
func checkLimitTelemetry(t *testing.T, tel *telemetry, role attribute.KeyValue, want conntrace.PathsLimit) sdktrace.Event {
	t.Helper()
	span := tel.Span(t, role)
	if v, _ := oteltest.Attr(span.Attributes(), "mptcp.paths.limit"); v.AsString() != want.String() {
		t.Errorf("%s span: mptcp.paths.limit = %q, want %q", role.Value.AsString(), v.AsString(), want)
	}
	evs := oteltest.Events(span, "mptcp.paths.limit")
	if len(evs) == 0 {
		t.Fatalf("%s span: no mptcp.paths.limit event", role.Value.AsString())
	}
	last := evs[len(evs)-1]
	if v, _ := oteltest.Attr(last.Attributes, "mptcp.paths.limit"); v.AsString() != want.String() {
		t.Errorf("%s span: last mptcp.paths.limit event says %q, want %q", role.Value.AsString(), v.AsString(), want)
	}
	sm := tel.Metrics(t)
	la := attribute.String("mptcp.paths.limit", want.String())
	if v := oteltest.Total(t, sm, "mptcp.connection.paths.limited.closed", role, la); v != 1 {
		t.Errorf("mptcp.connection.paths.limited.closed{%s,%s} = %d, want 1", role.Value.AsString(), want, v)
	}
	if v := oteltest.Total(t, sm, "mptcp.connection.paths.limited", role); v != 0 {
		t.Errorf("mptcp.connection.paths.limited{%s} = %d after close, want 0", role.Value.AsString(), v)
	}
	return last
}

// pathsPair connects the bed's client to an mptcpx listener of its server,
// both recording into tel, and keeps data moving.
func pathsPair(t *testing.T, b *testbed.Bed, tel *telemetry) (c, s *mptcpx.Conn) {
	t.Helper()
	ln := listen(t, b, tel)
	c = dial(t, b, tel, target(b, ln))
	s = accept(t, ln)
	t.Cleanup(busy(t, c, s))
	return c, s
}

// closeBoth closes both ends, the client first.
func closeBoth(c, s net.Conn) {
	c.Close()
	s.Close()
}

// TestPathsNoEndpoint: neither side has an endpoint (a fresh host): the
// client has no subflow endpoint to open a path from, the server no signal
// endpoint to announce.
func TestPathsNoEndpoint(t *testing.T) {
	requireLists(t)
	for _, v6 := range []bool{false, true} {
		t.Run(fmt.Sprintf("ipv6=%v", v6), func(t *testing.T) { testPathsNoEndpoint(t, v6) })
	}
}

func testPathsNoEndpoint(t *testing.T, v6 bool) {
	b := testbed.New(t, testbed.Config{Paths: 2, NoEndpoints: true, IPv6: v6})
	tel := newTelemetry(t)
	c, s := pathsPair(t, b, tel)
	dc := waitLimit(t, "client", c, conntrace.PathsLimitNoEndpoint)
	wantWords(t, "client", dc, "no MPTCP subflow endpoint", "ip mptcp endpoint add ADDR dev IF subflow")
	if dc.Endpoints != 0 || dc.Subflows != 1 || dc.PathManager != conntrace.PathManagerKernel {
		t.Errorf("client: %+v", dc)
	}
	ds := waitLimit(t, "server", s, conntrace.PathsLimitNoEndpoint)
	wantWords(t, "server", ds, "no MPTCP signal endpoint", "ip mptcp endpoint add ADDR dev IF signal")
	closeBoth(c, s)
	ev := checkLimitTelemetry(t, tel, roleClient, conntrace.PathsLimitNoEndpoint)
	if v, _ := oteltest.Attr(ev.Attributes, "mptcp.paths.endpoints"); v.AsInt64() != 0 {
		t.Errorf("event: mptcp.paths.endpoints = %v, want 0", v.String())
	}
	checkLimitTelemetry(t, tel, roleServer, conntrace.PathsLimitNoEndpoint)
}

// TestPathsEndpointOnOwnAddress: the client's only subflow endpoint is the
// address the connection already uses: no endpoint could open a path.
func TestPathsEndpointOnOwnAddress(t *testing.T) {
	requireLists(t)
	b := testbed.New(t, testbed.Config{Paths: 2, NoEndpoints: true})
	run(t, b.Client, "ip", "mptcp", "endpoint", "add", b.ClientAddr(0).String(), "dev", testbed.Iface(0), "subflow")
	tel := newTelemetry(t)
	c, s := pathsPair(t, b, tel)
	d := waitLimit(t, "client", c, conntrace.PathsLimitNoEndpoint)
	if d.Endpoints != 0 {
		t.Errorf("client: %d usable endpoints, want 0 (its only one is its own address)", d.Endpoints)
	}
	closeBoth(c, s)
}

// TestPathsSubflowsMax: the client's subflows limit is 0 while it has a
// subflow endpoint; then, on a three-path bed, a limit of 1 reached while
// the third path's endpoint stays unused. The server of the first has no
// signal endpoint: no_endpoint there.
func TestPathsSubflowsMax(t *testing.T) {
	requireLists(t)
	t.Run("zero", func(t *testing.T) {
		b := testbed.New(t, testbed.Config{Paths: 2})
		run(t, b.Client, "ip", "mptcp", "limits", "set", "subflows", "0", "add_addr_accepted", "0")
		tel := newTelemetry(t)
		c, s := pathsPair(t, b, tel)
		d := waitLimit(t, "client", c, conntrace.PathsLimitSubflowsMax)
		wantWords(t, "client", d, "its subflows limit, mptcpi_subflows_max, is 0", "ip mptcp limits set subflows 2")
		if d.SubflowsMax != 0 || d.Endpoints != 1 {
			t.Errorf("client: %+v", d)
		}
		waitLimit(t, "server", s, conntrace.PathsLimitNoEndpoint)
		closeBoth(c, s)
		ev := checkLimitTelemetry(t, tel, roleClient, conntrace.PathsLimitSubflowsMax)
		if v, ok := oteltest.Attr(ev.Attributes, "mptcp.paths.subflows.limit"); !ok || v.AsInt64() != 0 {
			t.Errorf("event: mptcp.paths.subflows.limit = %v (%v), want 0", v.String(), ok)
		}
	})
	t.Run("reached", func(t *testing.T) {
		b := testbed.New(t, testbed.Config{Paths: 3})
		run(t, b.Client, "ip", "mptcp", "limits", "set", "subflows", "1", "add_addr_accepted", "0")
		tel := newTelemetry(t)
		c, s := pathsPair(t, b, tel)
		d := waitLimit(t, "client", c, conntrace.PathsLimitSubflowsMax)
		wantWords(t, "client", d, "2 paths: this side's subflows limit (1) is reached", "ip mptcp limits set subflows 2")
		waitLimit(t, "server", s, conntrace.PathsLimitNone)
		closeBoth(c, s)
		checkLimitTelemetry(t, tel, roleClient, conntrace.PathsLimitSubflowsMax)
	})
}

// TestPathsAddAddrMax: the server announces its second address (a signal
// endpoint) to a client that accepts none (add_addr_accepted 0, the
// default): the client ignores it. The server, which did its part, has
// nothing to say.
func TestPathsAddAddrMax(t *testing.T) {
	requireLists(t)
	for _, v6 := range []bool{false, true} {
		t.Run(fmt.Sprintf("ipv6=%v", v6), func(t *testing.T) { testPathsAddAddrMax(t, v6) })
	}
}

func testPathsAddAddrMax(t *testing.T, v6 bool) {
	b := testbed.New(t, testbed.Config{Paths: 2, ServerSignal: true, IPv6: v6})
	run(t, b.Client, "ip", "mptcp", "limits", "set", "subflows", "2", "add_addr_accepted", "0")
	tel := newTelemetry(t)
	c, s := pathsPair(t, b, tel)
	d := waitLimit(t, "client", c, conntrace.PathsLimitAddAddrMax)
	wantWords(t, "client", d, "the peer announced 1 address(es) that this side ignored", "add_addr_accepted 1")
	if d.Announced != 1 || d.AddAddrAcceptedMax != 0 {
		t.Errorf("client: %+v", d)
	}
	time.Sleep(500 * time.Millisecond)
	if l := s.PathsLimit(); l != conntrace.PathsLimitNone {
		t.Errorf("server: %v (%s), want none: it announced its address", l, s.PathsDiagnosis())
	}
	closeBoth(c, s)
	checkLimitTelemetry(t, tel, roleClient, conntrace.PathsLimitAddAddrMax)
}

// TestPathsJoinRejected: the server allows no extra subflow (its
// subflows limit 0): it answers the client's MP_JOIN SYN and refuses the
// join at the third ACK. The client diagnoses join_rejected, the server
// its own limit.
func TestPathsJoinRejected(t *testing.T) {
	requireLists(t)
	b := testbed.New(t, testbed.Config{Paths: 2})
	run(t, b.Server, "ip", "mptcp", "limits", "set", "subflows", "0", "add_addr_accepted", "0")
	tel := newTelemetry(t)
	c, s := pathsPair(t, b, tel)
	d := waitLimit(t, "client", c, conntrace.PathsLimitJoinRejected)
	wantWords(t, "client", d, "the peer refused", "on the peer: ip mptcp limits set subflows")
	ds := waitLimit(t, "server", s, conntrace.PathsLimitSubflowsMax)
	wantWords(t, "server", ds, "is 0", "ip mptcp limits set subflows 2")
	closeBoth(c, s)
	ev := checkLimitTelemetry(t, tel, roleClient, conntrace.PathsLimitJoinRejected)
	if d.Unknown&conntrace.PathsUnknownPathEvents == 0 {
		// Told by the path events: the join's addresses are known.
		if v, _ := oteltest.Attr(ev.Attributes, "network.local.address"); v.AsString() != b.ClientAddr(1).String() {
			t.Errorf("event: network.local.address = %q, want %v", v.AsString(), b.ClientAddr(1))
		}
	}
	checkLimitTelemetry(t, tel, roleServer, conntrace.PathsLimitSubflowsMax)
}

// TestPathsJoinFailed: the client's join from its second path gets no
// answer (the server's route to it is a blackhole), and is given up after
// its SYN retransmissions; with nft, it is answered by a TCP reset
// instead.
func TestPathsJoinFailed(t *testing.T) {
	requireLists(t)
	t.Run("timeout", func(t *testing.T) {
		b := testbed.New(t, testbed.Config{Paths: 2})
		run(t, b.Server, "ip", "route", "add", "blackhole", b.ClientAddr(1).String()+"/32")
		run(t, b.Client, "sysctl", "-qw", "net.ipv4.tcp_syn_retries=1") // give up after 3 s
		tel := newTelemetry(t)
		c, s := pathsPair(t, b, tel)
		d := waitLimit(t, "client", c, conntrace.PathsLimitJoinFailed)
		wantWords(t, "client", d, "a join did not complete from "+b.ClientAddr(1).String()+" to "+b.ServerAddr(0).String()+": no answer to its MP_JOIN SYN",
			"ip route get "+b.ServerAddr(0).String()+" from "+b.ClientAddr(1).String())
		if !d.Join.Timeout || d.Join.SynRetransmits < 1 {
			t.Errorf("join %+v: want a timeout after SYN retransmissions", d.Join)
		}
		closeBoth(c, s)
		ev := checkLimitTelemetry(t, tel, roleClient, conntrace.PathsLimitJoinFailed)
		if v, _ := oteltest.Attr(ev.Attributes, "mptcp.subflow.state"); v.AsString() != "SYN-SENT" {
			t.Errorf("event: mptcp.subflow.state = %q, want SYN-SENT", v.AsString())
		}
	})
	t.Run("unanswered", func(t *testing.T) {
		// The kernel's default tcp_syn_retries keeps trying for two
		// minutes: after two unanswered retransmissions the join is a
		// failed one as far as paths go.
		b := testbed.New(t, testbed.Config{Paths: 2})
		run(t, b.Server, "ip", "route", "add", "blackhole", b.ClientAddr(1).String()+"/32")
		tel := newTelemetry(t)
		c, s := pathsPair(t, b, tel)
		d := waitLimit(t, "client", c, conntrace.PathsLimitJoinFailed)
		if !d.Join.Timeout || d.Join.SynRetransmits < 2 || d.Join.State != 2 {
			t.Errorf("join %+v: want a join in SYN_SENT after two retransmissions", d.Join)
		}
		closeBoth(c, s)
		checkLimitTelemetry(t, tel, roleClient, conntrace.PathsLimitJoinFailed)
	})
	t.Run("reset", func(t *testing.T) {
		requireNft(t)
		b := testbed.New(t, testbed.Config{Paths: 2})
		nft(t, b.Server, "ip saddr "+b.ClientAddr(1).String()+" tcp flags syn / syn,ack reject with tcp reset")
		tel := newTelemetry(t)
		c, s := pathsPair(t, b, tel)
		d := waitLimit(t, "client", c, conntrace.PathsLimitJoinFailed)
		if d.Unknown&conntrace.PathsUnknownPathEvents == 0 {
			wantWords(t, "client", d, "a TCP reset answered its MP_JOIN SYN", "ip route get")
		}
		closeBoth(c, s)
		checkLimitTelemetry(t, tel, roleClient, conntrace.PathsLimitJoinFailed)
	})
}

// TestPathsUserspacePM: the client's namespace uses the userspace path
// manager and no daemon opens a subflow (the bed's endpoints and limits do
// not apply).
func TestPathsUserspacePM(t *testing.T) {
	requireLists(t)
	b := testbed.New(t, testbed.Config{Paths: 2})
	userspacePM(t, b.Client)
	tel := newTelemetry(t)
	c, s := pathsPair(t, b, tel)
	d := waitLimit(t, "client", c, conntrace.PathsLimitUserspacePM)
	wantWords(t, "client", d, "a userspace path manager decides", "sysctl -w net.mptcp.path_manager=kernel")
	if d.PathManager != conntrace.PathManagerUserspace {
		t.Errorf("client: path manager %v", d.PathManager)
	}
	closeBoth(c, s)
	checkLimitTelemetry(t, tel, roleClient, conntrace.PathsLimitUserspacePM)
}

// TestPathsFallback: against a plain TCP server, the client's connection
// is not MPTCP at all; a plain TCP client's is not on the server either.
func TestPathsFallback(t *testing.T) {
	b := testbed.New(t, testbed.Config{Paths: 2})
	tel := newTelemetry(t)
	var ln net.Listener
	err := b.Server.Do(func() (err error) {
		var lc net.ListenConfig
		lc.SetMultipathTCP(false)
		ln, err = lc.Listen(context.Background(), "tcp", ":0")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c := dial(t, b, tel, target(b, ln))
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	d := waitLimit(t, "client", c, conntrace.PathsLimitFallback)
	if d.Fallback != conntrace.FallbackNotNegotiated && d.Fallback != conntrace.FallbackUnavailable {
		t.Errorf("client: fallback %v", d.Fallback)
	}
	wantWords(t, "client", d, "not MPTCP: ", "")
	closeBoth(c, s)
	ev := checkLimitTelemetry(t, tel, roleClient, conntrace.PathsLimitFallback)
	if v, _ := oteltest.Attr(ev.Attributes, "mptcp.fallback.reason"); v.AsString() != d.Fallback.String() {
		t.Errorf("event: mptcp.fallback.reason = %q, want %q", v.AsString(), d.Fallback)
	}
}

// TestPathsBlackhole: the server's namespace drops every SYN that carries
// MP_CAPABLE, as a middlebox that does not know MPTCP may (plain SYNs
// pass). The first dial takes its SYN retransmissions, then the kernel
// dials without MP_CAPABLE and turns active MPTCP off in the client's
// namespace: mptcpx reports the fallback as blackhole, not as the peer's
// choice. Later dials are plain TCP at once, also once the middlebox is
// gone, and blackhole too (the namespace's counters show it), until
// net.mptcp.blackhole_timeout is written. Linux 6.12+ (and nft).
func TestPathsBlackhole(t *testing.T) {
	requireLists(t)
	requireNft(t)
	b := testbed.New(t, testbed.Config{Paths: 1})
	if _, err := b.Client.Run("cat", "/proc/sys/net/mptcp/blackhole_timeout"); err != nil {
		t.Skip("no blackhole detection before Linux 6.12 (no net.mptcp.blackhole_timeout)")
	}
	drop := "tcp flags syn / syn,ack tcp option mptcp exists drop"
	nft(t, b.Server, drop)
	tel := newTelemetry(t)
	ln := listen(t, b, tel)
	type dialed struct {
		c, s *mptcpx.Conn
		took time.Duration
	}
	dialOnce := func(what string) dialed {
		t.Helper()
		start := time.Now()
		c := dial(t, b, tel, target(b, ln))
		took := time.Since(start)
		s := accept(t, ln)
		t.Logf("%s: dial took %v, client %v, server %v", what, took.Round(time.Millisecond), c.FallbackReason(), s.FallbackReason())
		return dialed{c, s, took}
	}
	wantBlackhole := func(what string, d dialed) {
		t.Helper()
		if r := d.c.FallbackReason(); r != conntrace.FallbackBlackhole {
			t.Errorf("%s: client FallbackReason() = %v, want blackhole", what, r)
		}
		if r := d.s.FallbackReason(); r != conntrace.FallbackNotNegotiated {
			t.Errorf("%s: server FallbackReason() = %v, want not_negotiated (a plain SYN reached it)", what, r)
		}
		p := d.c.PathsDiagnosis()
		if p.Limit != conntrace.PathsLimitFallback || p.Fallback != conntrace.FallbackBlackhole {
			t.Errorf("%s: client diagnosis %v/%v, want fallback/blackhole", what, p.Limit, p.Fallback)
		}
		wantWords(t, what, p, "a middlebox drops SYNs carrying MP_CAPABLE",
			"nstat -az MPTcpExtBlackhole MPTcpExtMPCapableSYNTXDisabled; turn active MPTCP back on: sysctl -w net.mptcp.blackhole_timeout=3600")
	}

	first := dialOnce("first dial through the blackhole")
	if first.took < 900*time.Millisecond {
		t.Errorf("the first dial took %v: no SYN retransmission", first.took)
	}
	wantBlackhole("first dial", first)
	second := dialOnce("second dial, active MPTCP off")
	if second.took > 900*time.Millisecond {
		t.Errorf("the second dial took %v: a SYN was retransmitted", second.took)
	}
	wantBlackhole("second dial", second)
	run(t, b.Server, "nft", "delete", "table", "inet", "mptcpx")
	time.Sleep(1200 * time.Millisecond) // past the hold of the last reading: the counters decide
	third := dialOnce("blackhole gone, active MPTCP still off")
	wantBlackhole("third dial", third)

	// The namespace metrics, while its connections are open.
	sm := tel.Metrics(t)
	ns := attribute.String("mptcp.netns", b.Client.Name())
	if v := oteltest.Total(t, sm, "mptcp.netns.blackhole.detections", ns); v != 1 {
		t.Errorf("mptcp.netns.blackhole.detections{%s} = %d, want 1", b.Client.Name(), v)
	}
	if v := oteltest.Total(t, sm, "mptcp.netns.fallbacks", ns, attribute.String("mptcp.netns.fallback.cause", "active_mptcp_off")); v != 2 {
		t.Errorf("mptcp.netns.fallbacks{active_mptcp_off} = %d, want 2", v)
	}
	if v := oteltest.Total(t, sm, "mptcp.connection.fallbacks", roleClient, attribute.String("mptcp.fallback.reason", "blackhole")); v != 3 {
		t.Errorf("mptcp.connection.fallbacks{client,blackhole} = %d, want 3", v)
	}

	run(t, b.Client, "sysctl", "-qw", "net.mptcp.blackhole_timeout=3600")
	fourth := dialOnce("after writing net.mptcp.blackhole_timeout")
	if mp, _ := fourth.c.MultipathTCP(); !mp || fourth.c.FallbackReason() != conntrace.FallbackNone {
		t.Errorf("after writing blackhole_timeout: MPTCP %v, fallback %v; want MPTCP again", mp, fourth.c.FallbackReason())
	}
	for _, d := range []dialed{first, second, third, fourth} {
		closeBoth(d.c, d.s)
	}
	n := 0
	for _, span := range tel.Spans(roleClient) {
		for _, ev := range oteltest.Events(span, "mptcp.fallback") {
			if v, _ := oteltest.Attr(ev.Attributes, "mptcp.fallback.reason"); v.AsString() == "blackhole" {
				n++
			}
		}
	}
	if n != 3 {
		t.Errorf("%d client spans with an mptcp.fallback event of reason blackhole, want 3", n)
	}
	fmt.Println("MPTCPX-FEATURE paths_blackhole=fallback reason blackhole (own SYN retransmissions, then the namespace's counters)")
}
