package conntrace

import (
	"net/netip"
	"strings"
	"syscall"
	"testing"
)

// TestPathsWords: every limit says in words what stopped the connection and
// gives the command that changes it.
func TestPathsWords(t *testing.T) {
	join := JoinFailure{Local: netip.MustParseAddrPort("10.0.1.1:40000"), Remote: netip.MustParseAddrPort("10.0.0.2:443")}
	timeout := join
	timeout.Timeout, timeout.SynRetransmits, timeout.State = true, 2, 2
	refused := join
	refused.Error = syscall.ECONNREFUSED
	reset := join
	reset.Reset, reset.ResetReason = true, 3
	for _, tc := range []struct {
		d             PathsDiagnosis
		words, remedy string
	}{
		{PathsDiagnosis{}, "nothing limits", ""},
		{PathsDiagnosis{Limit: PathsLimitFallback, Fallback: FallbackUnavailable}, "not MPTCP: this host could not open an MPTCP socket", "sysctl -w net.mptcp.enabled=1"},
		{PathsDiagnosis{Limit: PathsLimitFallback, Fallback: FallbackBlackhole}, "a middlebox drops SYNs carrying MP_CAPABLE",
			"nstat -az MPTcpExtBlackhole MPTcpExtMPCapableSYNTXDisabled; turn active MPTCP back on: sysctl -w net.mptcp.blackhole_timeout=3600"},
		{PathsDiagnosis{Limit: PathsLimitFallback, Fallback: FallbackNotNegotiated, Role: RoleServer}, "the client did not ask for MPTCP", "dial with MPTCP on the client"},
		{PathsDiagnosis{Limit: PathsLimitJoinRejected, Subflows: 1, Join: join}, "one path: the peer refused the join from 10.0.1.1 to 10.0.0.2 (it answered the MP_JOIN", "on the peer: ip mptcp limits set subflows"},
		{PathsDiagnosis{Limit: PathsLimitJoinRejected, Subflows: 1, Join: reset}, "(MP_TCPRST administratively_prohibited)", "on the peer"},
		{PathsDiagnosis{Limit: PathsLimitJoinRejected, Subflows: 1, Unknown: PathsUnknownPathEvents}, "the peer refused a join of this side (the namespace's counters", "on the peer"},
		{PathsDiagnosis{Limit: PathsLimitJoinFailed, Subflows: 1, Join: timeout}, "a join did not complete from 10.0.1.1 to 10.0.0.2: no answer to its MP_JOIN SYN after 2 retransmission(s)",
			"check the path: ip route get 10.0.0.2 from 10.0.1.1; ping -I 10.0.1.1 10.0.0.2"},
		{PathsDiagnosis{Limit: PathsLimitJoinFailed, Subflows: 1, Join: refused}, "a TCP reset answered its MP_JOIN SYN", "ip route get 10.0.0.2 from 10.0.1.1"},
		{PathsDiagnosis{Limit: PathsLimitJoinFailed, Subflows: 1, Unknown: PathsUnknownPathEvents}, "cause unknown [path events not all received", "ip mptcp endpoint show"},
		{PathsDiagnosis{Limit: PathsLimitUserspacePM, Subflows: 1}, "a userspace path manager decides", "sysctl -w net.mptcp.path_manager=kernel"},
		{PathsDiagnosis{Limit: PathsLimitSubflowsMax, Subflows: 1}, "its subflows limit, mptcpi_subflows_max, is 0", "ip mptcp limits set subflows 2"},
		{PathsDiagnosis{Limit: PathsLimitSubflowsMax, Subflows: 1, Unknown: PathsUnknownPathManager}, "a userspace one also shows a limit of 0 [not read: path_manager]", "sysctl net.mptcp.path_manager"},
		{PathsDiagnosis{Limit: PathsLimitSubflowsMax, Subflows: 3, SubflowsMax: 2, Announced: 2}, "3 paths: this side's subflows limit (2) is reached while 2 address(es) the peer announced stay unused", "ip mptcp limits set subflows 4"},
		{PathsDiagnosis{Limit: PathsLimitAddAddrMax, Subflows: 1, SubflowsMax: 2, Announced: 1}, "the peer announced 1 address(es) that this side ignored: its add_addr_accepted limit (0) is reached",
			"ip mptcp limits set subflows 2 add_addr_accepted 1"},
		{PathsDiagnosis{Limit: PathsLimitNoEndpoint, Subflows: 1}, "no MPTCP subflow endpoint", "ip mptcp endpoint add ADDR dev IF subflow"},
		{PathsDiagnosis{Limit: PathsLimitNoEndpoint, Subflows: 1, Role: RoleServer, Unknown: PathsUnknownNamespace}, "no MPTCP signal endpoint to announce another address from, and the peer opened no other path [not read: namespace]",
			"ip mptcp endpoint add ADDR dev IF signal"},
	} {
		if got := tc.d.String(); !strings.Contains(got, tc.words) {
			t.Errorf("%v: %q, want it to say %q", tc.d.Limit, got, tc.words)
		}
		if got := tc.d.Remedy(); !strings.Contains(got, tc.remedy) || tc.remedy == "" && got != "" {
			t.Errorf("%v: remedy %q, want %q", tc.d.Limit, got, tc.remedy)
		}
	}
}

func TestPathsLimitNames(t *testing.T) {
	var names []string
	for _, l := range PathsLimits() {
		names = append(names, l.String())
	}
	if got := strings.Join(names, " "); got != "fallback join_rejected join_failed userspace_pm subflows_max add_addr_max no_endpoint" {
		t.Errorf("PathsLimits, in order of precedence: %s", got)
	}
	if PathsLimitNone.String() != "none" || PathsLimit(99).String() != "PathsLimit(99)" {
		t.Error("none and unknown values")
	}
	if FallbackBlackhole.String() != "blackhole" {
		t.Error("FallbackBlackhole")
	}
	a := PathsDiagnosis{Limit: PathsLimitNoEndpoint, Subflows: 1}
	b := PathsDiagnosis{Limit: PathsLimitNoEndpoint, Subflows: 2, Unknown: PathsUnknownPathEvents}
	if !a.SameCause(b) || a.SameCause(PathsDiagnosis{Limit: PathsLimitSubflowsMax}) || !(PathsDiagnosis{}).SameCause(PathsDiagnosis{Subflows: 3}) {
		t.Error("SameCause")
	}
}
