package testbed

import (
	"net/netip"
	"os"
	"reflect"
	"slices"
	"testing"
	"time"
)

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func parseMPTCPFile(t *testing.T, name string) []MPTCPSocket {
	t.Helper()
	socks, err := ParseMPTCP(readTestdata(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return socks
}

func parseTCPFile(t *testing.T, name string) []TCPSocket {
	t.Helper()
	socks, err := ParseTCP(readTestdata(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return socks
}

func TestParseMPTCP(t *testing.T) {
	socks := parseMPTCPFile(t, "ss-M-client-ipv4.txt")
	if len(socks) != 1 {
		t.Fatalf("got %d sockets, want 1", len(socks))
	}
	s := socks[0]
	want := MPTCPSocket{
		Socket: Socket{
			State: "ESTAB",
			Local: netip.MustParseAddrPort("10.0.0.1:39322"),
			Peer:  netip.MustParseAddrPort("10.0.0.2:41841"),
		},
		Token:              0xa2ec45bd,
		Subflows:           2,
		SubflowsMax:        8,
		AddAddrAcceptedMax: 8,
		RemoteKey:          true,
		WriteSeq:           0x514ba168ce269ac4,
		SndUna:             0x514ba168ce269ac4,
		RcvNxt:             0x6f17df533018031d,
	}
	got := s
	got.Fields = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parsed\n%+v\nwant\n%+v", got, want)
	}
	if len(s.Fields) != 8 || !s.Has("remote_key") || s.Has("bytes_sent") || s.Fields["token"] != "a2ec45bd" {
		t.Errorf("Fields = %v", s.Fields)
	}
}

// TestParseMPTCPSignal reads both ends of one connection whose server
// announced two addresses: the counters say so on each side, and the data
// sequence numbers of one side are the other's.
func TestParseMPTCPSignal(t *testing.T) {
	client := parseMPTCPFile(t, "ss-M-client-ipv6-signal.txt")
	server := parseMPTCPFile(t, "ss-M-server-ipv6-signal.txt")
	if len(client) != 1 || len(server) != 1 {
		t.Fatalf("got %d client and %d server sockets, want 1 each", len(client), len(server))
	}
	c, s := client[0], server[0]
	if c.Local != s.Peer || c.Peer != s.Local || c.Local != netip.MustParseAddrPort("[fd00::1]:59964") {
		t.Errorf("addresses: client %s -> %s, server %s -> %s", c.Local, c.Peer, s.Local, s.Peer)
	}
	if c.AddAddrAccepted != 2 || c.AddAddrSignal != 0 || c.Subflows != 2 {
		t.Errorf("client: add_addr_accepted %d add_addr_signal %d subflows %d, want 2 0 2", c.AddAddrAccepted, c.AddAddrSignal, c.Subflows)
	}
	if s.AddAddrSignal != 2 || s.AddAddrSignalMax != 2 || s.AddAddrAccepted != 0 || s.Subflows != 2 {
		t.Errorf("server: add_addr_signal %d add_addr_signal_max %d add_addr_accepted %d subflows %d, want 2 2 0 2",
			s.AddAddrSignal, s.AddAddrSignalMax, s.AddAddrAccepted, s.Subflows)
	}
	if c.Token != 0x40a105b8 || s.Token != 0x90e22530 {
		t.Errorf("tokens %08x %08x", c.Token, s.Token)
	}
	if c.WriteSeq != s.RcvNxt || s.WriteSeq != c.RcvNxt {
		t.Errorf("sequence numbers do not match: client write_seq %x rcv_nxt %x, server write_seq %x rcv_nxt %x", c.WriteSeq, c.RcvNxt, s.WriteSeq, s.RcvNxt)
	}
}

func TestParseTCP(t *testing.T) {
	socks := parseTCPFile(t, "ss-t-client-ipv4.txt")
	if len(socks) != 4 {
		t.Fatalf("got %d sockets, want 4", len(socks))
	}
	first := socks[0]
	if first.State != "ESTAB" || first.Local != netip.MustParseAddrPort("10.0.1.1:52819") || first.LocalIface != "mpx1" ||
		first.Peer != netip.MustParseAddrPort("10.0.0.2:41841") {
		t.Errorf("first socket: %s %s%%%s -> %s", first.State, first.Local, first.LocalIface, first.Peer)
	}
	if first.CongestionControl != "bbr" || first.MSS != 1448 || first.Cwnd != 10 ||
		first.RTT != 22*time.Microsecond || first.RTTVar != 11*time.Microsecond || first.MinRTT != 22*time.Microsecond {
		t.Errorf("first socket: cc %q mss %d cwnd %d rtt %v/%v minrtt %v", first.CongestionControl, first.MSS, first.Cwnd, first.RTT, first.RTTVar, first.MinRTT)
	}
	if first.BytesAcked != 1 || first.BytesSent != 0 || first.Has("bytes_sent") {
		t.Errorf("first socket: bytes_acked %d bytes_sent %d", first.BytesAcked, first.BytesSent)
	}
	if first.Fields["pacing_rate"] != "15047886960bps" || first.Fields["send"] != "5265454545bps" || !first.Has("app_limited") {
		t.Errorf("first socket: pacing_rate %q send %q, app_limited %v", first.Fields["pacing_rate"], first.Fields["send"], first.Has("app_limited"))
	}
	wantSF := SubflowInfo{Flags: "Jjec", RemoteToken: 0xa9bddcfe, LocalToken: 0xa2ec45bd, RemoteID: 0, LocalID: 1}
	if sf := first.MPTCP; sf == nil || sf.Flags != wantSF.Flags || sf.RemoteToken != wantSF.RemoteToken ||
		sf.LocalToken != wantSF.LocalToken || sf.RemoteID != 0 || sf.LocalID != 1 || sf.Fields["ssnoff"] != "894c1210" {
		t.Errorf("first socket: MPTCP = %+v, want %+v", sf, wantSF)
	}

	initial := socks[2]
	if initial.BytesSent != 3145729 || initial.BytesAcked != 3145730 || initial.LocalIface != "" {
		t.Errorf("initial subflow: bytes_sent %d bytes_acked %d iface %q", initial.BytesSent, initial.BytesAcked, initial.LocalIface)
	}
	if sf := initial.MPTCP; sf == nil || sf.Flags != "Mmec" || sf.RemoteToken != 0 || sf.LocalID != 0 {
		t.Errorf("initial subflow: MPTCP = %+v", sf)
	}
	if plain := socks[3]; plain.IsSubflow() || plain.Local != netip.MustParseAddrPort("10.0.1.1:44558") {
		t.Errorf("plain TCP socket %s: IsSubflow() = %v", plain.Local, plain.IsSubflow())
	}

	subs := SubflowsOf(socks, 0xa2ec45bd)
	var ids []int
	for _, s := range subs {
		ids = append(ids, s.MPTCP.LocalID)
	}
	if !slices.Equal(ids, []int{1, 2, 0}) {
		t.Errorf("SubflowsOf: local ids %v, want [1 2 0]", ids)
	}
	if n := len(SubflowsOf(socks, 0x12345678)); n != 0 {
		t.Errorf("SubflowsOf(unknown token) = %d sockets", n)
	}
}

// TestParseNetid reads `ss -tM` output, where ss prints the Netid column:
// each parser takes its own kind.
func TestParseNetid(t *testing.T) {
	text := readTestdata(t, "ss-tM-client-ipv4.txt")
	tcp, err := ParseTCP(text)
	if err != nil {
		t.Fatal(err)
	}
	mp, err := ParseMPTCP(text)
	if err != nil {
		t.Fatal(err)
	}
	if len(tcp) != 4 || len(mp) != 1 {
		t.Fatalf("got %d tcp and %d mptcp sockets, want 4 and 1", len(tcp), len(mp))
	}
	if tcp[0].Netid != "tcp" || mp[0].Netid != "mptcp" || mp[0].State != "ESTAB" || mp[0].Token != 0xa2ec45bd {
		t.Errorf("tcp[0] %q, mptcp %q %q token %08x", tcp[0].Netid, mp[0].Netid, mp[0].State, mp[0].Token)
	}
	if n := len(SubflowsOf(tcp, mp[0].Token)); n != mp[0].Subflows+1 {
		t.Errorf("%d subflows of token %08x, ss -Mi says %d besides the initial one", n, mp[0].Token, mp[0].Subflows)
	}
}

// TestParseNoStateColumn reads `ss state established` output, which has no
// State column.
func TestParseNoStateColumn(t *testing.T) {
	socks := parseTCPFile(t, "ss-t-client-ipv6-established.txt")
	if len(socks) != 4 {
		t.Fatalf("got %d sockets, want 4", len(socks))
	}
	s := socks[0]
	if s.State != "" || s.Local != netip.MustParseAddrPort("[fd00::1]:59964") || s.Peer != netip.MustParseAddrPort("[fd00::2]:45659") ||
		s.BytesSent != 1176649 || s.RTT != 407*time.Microsecond {
		t.Errorf("first socket: %q %s -> %s bytes_sent %d rtt %v", s.State, s.Local, s.Peer, s.BytesSent, s.RTT)
	}
}

// TestParseNoHeader reads `ss -H state all` output: no header, listeners with
// wildcard addresses.
func TestParseNoHeader(t *testing.T) {
	socks := parseTCPFile(t, "ss-t-server-ipv6-all-noheader.txt")
	if len(socks) != 6 {
		t.Fatalf("got %d sockets, want 6", len(socks))
	}
	ln := socks[0]
	if ln.State != "LISTEN" || ln.Local.Addr().IsValid() || ln.Local.Port() != 45659 || ln.Peer != (netip.AddrPort{}) || ln.SendQ != 4096 {
		t.Errorf("listener: %s %s -> %s send-q %d", ln.State, ln.Local, ln.Peer, ln.SendQ)
	}
	if ln.MPTCP == nil || ln.MPTCP.LocalToken != 0 {
		t.Errorf("MPTCP listener: MPTCP = %+v", ln.MPTCP)
	}
	subs := SubflowsOf(socks, 0x90e22530)
	var recv uint64
	for _, s := range subs {
		recv += s.BytesReceived
	}
	if len(subs) != 3 || recv != 1176649+851968+1117112 {
		t.Errorf("%d subflows received %d bytes", len(subs), recv)
	}
	if n := len(SubflowsOf(socks, 0)); n != 0 {
		t.Errorf("SubflowsOf(0) matched %d sockets (listeners have token 0)", n)
	}
}

func TestParseErrors(t *testing.T) {
	for _, text := range []string{
		"ESTAB 0 0 10.0.0.1:1\n",
		"ESTAB x 0 10.0.0.1:1 10.0.0.2:2\n",
		"ESTAB 0 0 10.0.0.1 10.0.0.2:2\n",
		"\t details first\n",
		"ESTAB 0 0 10.0.0.1:1 10.0.0.2:2\n\t bytes_sent:many\n",
		"ESTAB 0 0 10.0.0.1:1 10.0.0.2:2\n\t rtt:fast/slow\n",
		"ESTAB 0 0 10.0.0.1:1 10.0.0.2:2\n\t tcp-ulp-mptcp token:ab\n",
		"ESTAB 0 0 10.0.0.1:1 10.0.0.2:2\n\t tcp-ulp-mptcp token:ab(id:1)/cd\n",
	} {
		if socks, err := ParseTCP(text); err == nil {
			t.Errorf("ParseTCP(%q) = %+v, want an error", text, socks)
		}
	}
	if socks, err := ParseMPTCP("ESTAB 0 0 10.0.0.1:1 10.0.0.2:2\n\t token:xyz\n"); err == nil {
		t.Errorf("ParseMPTCP accepted a bad token: %+v", socks)
	}
}

func TestParseSSAddr(t *testing.T) {
	for _, tc := range []struct {
		in    string
		want  string
		iface string
	}{
		{"10.0.0.1:5", "10.0.0.1:5", ""},
		{"[fd00::1]:80", "[fd00::1]:80", ""},
		{"10.0.1.1%mpx1:52819", "10.0.1.1:52819", "mpx1"},
		{"[fd00:0:1::1]%mpx1:49499", "[fd00:0:1::1]:49499", "mpx1"},
		{"[::ffff:10.0.0.2]:5000", "[::ffff:10.0.0.2]:5000", ""},
		{"[fe80::1%mpx0]:22", "[fe80::1%mpx0]:22", ""},
		{"*:45659", "invalid AddrPort", ""},
		{"*:*", "invalid AddrPort", ""},
	} {
		got, iface, err := parseSSAddr(tc.in)
		if err != nil || got.String() != tc.want || iface != tc.iface {
			t.Errorf("parseSSAddr(%q) = %s, %q, %v; want %s, %q", tc.in, got, iface, err, tc.want, tc.iface)
		}
	}
	for _, in := range []string{"nonsense", "1.2.3.4:99999", "[fd00::1]", "1.2.3:4"} {
		if got, _, err := parseSSAddr(in); err == nil {
			t.Errorf("parseSSAddr(%q) = %s, want an error", in, got)
		}
	}
}
