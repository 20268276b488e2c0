package testbed

import (
	"strings"
	"testing"
)

// TestLoss drops 5% of the packets on path 1: the subflow there
// retransmits in proportion, the one on path 0 next to nothing (ss's
// bytes_retrans; what path 0 retransmits is spurious, reordering between
// the CPUs that hand veth packets over), and the data arrives intact. The
// lossy path's links build GSO packets of one segment, and each side holds
// the rule.
func TestLoss(t *testing.T) {
	b := New(t, Config{Paths: 2, Loss: map[int]int{1: 5}})
	for _, ns := range []*NS{b.Client, b.Server} {
		out, err := ns.Run("ip", "-d", "link", "show", "dev", Iface(1))
		if err != nil || !strings.Contains(out, "gso_max_segs 1 ") {
			t.Errorf("%s: %s: %q, %v; want gso_max_segs 1", ns, Iface(1), out, err)
		}
		out, err = ns.Run("nft", "list", "ruleset")
		if err != nil || !strings.Contains(out, "numgen random mod 100 < 5 drop") {
			t.Errorf("%s: nft list ruleset: %q, %v; want the rule", ns, out, err)
		}
	}
	ln := listenMPTCP(t, b)
	res := sink(ln)
	st := newStream(dialMPTCP(t, b, ln), 5)
	st.send(t, 1)
	token := clientConn(t, b).Token
	waitSubflows(t, b, token, 2)
	st.send(t, 8<<20)
	subs := waitAcked(t, b, token, st.n)
	for _, s := range subs {
		ratio := float64(s.BytesRetrans) / float64(max(s.BytesSent, 1))
		t.Logf("subflow from %v: %d bytes sent, %d retransmitted (%.2f%%)", s.Local, s.BytesSent, s.BytesRetrans, 100*ratio)
		switch s.Local.Addr() {
		case b.ClientAddr(1):
			if s.BytesSent > 1<<20 && ratio < 0.01 {
				t.Errorf("the lossy path retransmitted %.2f%% of its bytes, want about 5%%", 100*ratio)
			}
		case b.ClientAddr(0):
			if ratio > 0.01 {
				t.Errorf("the clean path retransmitted %.2f%% of its bytes", 100*ratio)
			}
		}
	}
	st.finish(t, res)
}
