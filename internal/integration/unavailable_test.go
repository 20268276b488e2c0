package integration_test

import (
	"os/exec"
	"testing"

	"go.opentelemetry.io/otel/attribute"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/oteltest"
	"github.com/mptcpx/mptcpx/internal/testbed"
	"github.com/mptcpx/mptcpx/internal/testenv"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// setMPTCP turns MPTCP on or off in ns (net.mptcp.enabled is per network
// namespace): off, the kernel refuses to open MPTCP sockets there, and the
// net package opens plain TCP ones instead.
func setMPTCP(t testing.TB, ns *testbed.NS, on bool) {
	t.Helper()
	v := "0"
	if on {
		v = "1"
	}
	if _, err := ns.Run("sysctl", "-qw", "net.mptcp.enabled="+v); err != nil {
		t.Fatal(err)
	}
}

// TestMPTCPUnavailable: with MPTCP disabled in a namespace, mptcpx
// connections there are plain TCP and say why, on each side, from the
// socket itself: mptcp_unavailable where this host could not open an MPTCP
// socket (the dialed one, or the listener), not_negotiated where the other
// side could and this one's peer did not take it.
func TestMPTCPUnavailable(t *testing.T) {
	if mptcpinfo.KernelMethod() == mptcpinfo.MethodProtocol {
		t.Skip("before 5.16 the kernel cannot tell a fallback (known limit)")
	}
	for _, c := range []struct {
		name                 string
		clientOn, serverOn   bool
		clientWhy, serverWhy string
	}{
		{"disabled on both", false, false, "mptcp_unavailable", "mptcp_unavailable"},
		{"disabled on the client", false, true, "mptcp_unavailable", "not_negotiated"},
		{"disabled on the server", true, false, "not_negotiated", "mptcp_unavailable"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := testbed.New(t, testbed.Config{Paths: 2})
			setMPTCP(t, b.Client, c.clientOn)
			setMPTCP(t, b.Server, c.serverOn)
			tel := newTelemetry(t)
			ln := listen(t, b, tel)
			cl := dial(t, b, tel, target(b, ln))
			s := accept(t, ln)
			for _, end := range []struct {
				conn *mptcpx.Conn
				want string
			}{{cl, c.clientWhy}, {s, c.serverWhy}} {
				if mp, _ := end.conn.MultipathTCP(); mp {
					t.Fatal("an MPTCP connection with MPTCP disabled on one side")
				}
				if r := end.conn.FallbackReason(); r.String() != end.want {
					t.Errorf("FallbackReason() = %v, want %s", r, end.want)
				}
			}
			exchange(t, cl, s)
			checkFallback(t, tel, roleClient, c.clientWhy)
			checkFallback(t, tel, roleServer, c.serverWhy)
		})
	}
}

// TestMPTCPDisabledWhileRunning: net.mptcp.enabled turned off and on again
// while the process runs. Each connection is reported by what its socket
// is, not by what the process found when it started.
func TestMPTCPDisabledWhileRunning(t *testing.T) {
	if mptcpinfo.KernelMethod() == mptcpinfo.MethodProtocol {
		t.Skip("before 5.16 the kernel cannot tell a fallback (known limit)")
	}
	b := testbed.New(t, testbed.Config{Paths: 1})
	for i, on := range []bool{true, false, true} {
		setMPTCP(t, b.Client, on)
		tel := newTelemetry(t)
		ln := listen(t, b, tel)
		c := dial(t, b, tel, target(b, ln))
		s := accept(t, ln)
		if mp, _ := c.MultipathTCP(); mp != on {
			t.Fatalf("dial %d, MPTCP enabled %v in the client: MultipathTCP() = %v", i+1, on, mp)
		}
		exchange(t, c, s)
		if on {
			for _, role := range []attribute.KeyValue{roleClient, roleServer} {
				span := tel.Span(t, role)
				if v, _ := oteltest.Attr(span.Attributes(), "mptcp.fallback"); v.AsBool() || len(oteltest.Events(span, "mptcp.fallback")) != 0 {
					t.Errorf("dial %d, MPTCP enabled: %s span reports a fallback", i+1, role.Value.AsString())
				}
			}
			continue
		}
		checkFallback(t, tel, roleClient, "mptcp_unavailable")
		checkFallback(t, tel, roleServer, "not_negotiated")
	}
}

// TestMPTCPRefusedOnPath: the server's side of the path refuses MPTCP (an
// nftables rule answers every segment carrying an MPTCP option with a
// reset), so the MPTCP dial fails and the net package dials again in plain
// TCP. The client's plain connection is not for want of MPTCP on this host:
// not_negotiated on both sides.
func TestMPTCPRefusedOnPath(t *testing.T) {
	if mptcpinfo.KernelMethod() == mptcpinfo.MethodProtocol {
		t.Skip("before 5.16 the kernel cannot tell a fallback (known limit)")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		if testenv.KernelMatrix() {
			t.Skip("no nft(8) in the kernel matrix's virtual machines")
		}
		testenv.Skip(t, "needs nft(8) (Debian package nftables) to refuse MPTCP on the path")
	}
	b := testbed.New(t, testbed.Config{Paths: 1})
	for _, rule := range [][]string{
		{"add", "table", "inet", "mptcpx"},
		{"add", "chain", "inet", "mptcpx", "in", "{ type filter hook input priority 0; }"},
		{"add", "rule", "inet", "mptcpx", "in", "tcp", "option", "mptcp", "exists", "reject", "with", "tcp", "reset"},
	} {
		if _, err := b.Server.Run(append([]string{"nft"}, rule...)...); err != nil {
			t.Fatal(err)
		}
	}
	tel := newTelemetry(t)
	ln := listen(t, b, tel)
	c := dial(t, b, tel, target(b, ln))
	s := accept(t, ln)
	if mp, _ := c.MultipathTCP(); mp {
		t.Fatal("MPTCP through a path that refuses it")
	}
	if r := c.FallbackReason(); r != conntrace.FallbackNotNegotiated {
		t.Errorf("client FallbackReason() = %v, want not_negotiated: this host can open MPTCP sockets", r)
	}
	exchange(t, c, s)
	checkFallback(t, tel, roleClient, "not_negotiated")
	checkFallback(t, tel, roleServer, "not_negotiated")
}
