package integration_test

import (
	"fmt"
	"io"
	"net/netip"
	"testing"

	"go.opentelemetry.io/otel/attribute"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/internal/oteltest"
	"github.com/mptcpx/mptcpx/internal/testbed"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// TestKernelView compares what Conn.Info reports on both ends of an open
// three-path connection with the kernel's own view, printed by `ss -Mi` and
// `ss -ti` in each namespace: the token, the subflow count, the data
// sequence numbers and byte counters of the connection, and every subflow's
// addresses and tcp_info byte counters. The counters move while data
// flows, so both views are read once the connection is idle: everything
// sent in both directions acknowledged at the MPTCP level.
func TestKernelView(t *testing.T) {
	const paths = 3
	b := testbed.New(t, testbed.Config{Paths: paths})
	tel := newTelemetry(t)
	ln := listen(t, b, tel)
	c, s := connect(t, b, tel, ln)

	// 1 byte to make the connection fully established, so that the
	// subflows are added, then 2 MiB up and 1 MiB back.
	up, down := newSender(c, 6), newSender(s, 7)
	if err := up.send(1); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(s, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	threeUp := func(s *mptcpinfo.Snapshot) bool { return len(established(s)) == paths }
	waitInfo(t, c, "3 established subflows on the client", threeUp)
	waitInfo(t, s, "3 established subflows on the server", threeUp)
	errs := make(chan error, 1)
	go func() {
		_, err := io.ReadFull(s, make([]byte, 2<<20))
		if err == nil {
			err = down.send(1 << 20)
		}
		errs <- err
	}()
	if err := up.send(2 << 20); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	idle := func(s *mptcpinfo.Snapshot) bool { return s.Info.SndUna == s.Info.WriteSeq }
	waitInfo(t, c, "the client's data acknowledged", idle)
	waitInfo(t, s, "the server's data acknowledged", idle)

	var tokens [2]uint32
	t.Run("client", func(t *testing.T) { tokens[0] = compareWithSS(t, b.Client, c, up.sent(), down.sent()) })
	t.Run("server", func(t *testing.T) { tokens[1] = compareWithSS(t, b.Server, s, down.sent(), up.sent()) })

	// The spans end with the same token and counters.
	c.Close()
	s.Close()
	for i, role := range []attribute.KeyValue{roleClient, roleServer} {
		span := tel.Span(t, role)
		sent := []int64{up.sent(), down.sent()}[i]
		if v, _ := oteltest.Attr(span.Attributes(), "mptcp.token"); v.AsString() != fmt.Sprintf("%08x", tokens[i]) {
			t.Errorf("%s span: mptcp.token = %q, Info said %08x", role.Value.AsString(), v.String(), tokens[i])
		}
		if v, _ := oteltest.Attr(span.Attributes(), "mptcp.bytes.sent"); mptcpinfo.KernelMethod() == mptcpinfo.MethodFullInfo && v.AsInt64() != sent {
			t.Errorf("%s span: mptcp.bytes.sent = %s, want %d", role.Value.AsString(), v.String(), sent)
		}
	}
}

// compareWithSS compares c.Info with ss in ns, where c lives; c sent and
// received the given numbers of bytes. It returns the token Info reported.
func compareWithSS(t *testing.T, ns *testbed.NS, c *mptcpx.Conn, sent, received int64) uint32 {
	lib, err := c.Info()
	if err != nil {
		t.Fatal(err)
	}
	conns, err := ns.MPTCPSockets()
	if err != nil {
		t.Fatal(err)
	}
	socks, err := ns.TCPSockets()
	if err != nil {
		t.Fatal(err)
	}
	// Read the library's view again: if it did not move in between, the
	// kernel's view read in between is of the same state.
	again, err := c.Info()
	if err != nil {
		t.Fatal(err)
	}
	if counters(lib) != counters(again) {
		t.Fatalf("the connection was not idle: its counters moved from %+v to %+v", counters(lib), counters(again))
	}
	if len(conns) != 1 {
		t.Fatalf("ss -Mi in %s: %d connections, want 1", ns, len(conns))
	}
	k, li := conns[0], lib.Info
	t.Logf("library: token %08x, %d subflows, sent %d, received %d; ss -Mi: %v", li.Token, len(lib.Subflows), li.BytesSent, li.BytesReceived, k.Fields)

	if li.Token == 0 || li.Token != k.Token {
		t.Errorf("token: library %08x, ss -Mi %08x", li.Token, k.Token)
	}
	if int(li.ExtraSubflows) != k.Subflows {
		t.Errorf("subflows (besides the initial one): library %d, ss -Mi %d", li.ExtraSubflows, k.Subflows)
	}
	if lib.Has(mptcpinfo.FieldSubflowsTotal) && k.Has("subflows_total") && int(li.SubflowsTotal) != k.SubflowsTotal {
		t.Errorf("subflows_total: library %d, ss -Mi %d", li.SubflowsTotal, k.SubflowsTotal)
	}
	if li.WriteSeq != k.WriteSeq || li.SndUna != k.SndUna || li.RcvNxt != k.RcvNxt {
		t.Errorf("write_seq/snd_una/rcv_nxt: library %x/%x/%x, ss -Mi %x/%x/%x", li.WriteSeq, li.SndUna, li.RcvNxt, k.WriteSeq, k.SndUna, k.RcvNxt)
	}
	subs := testbed.SubflowsOf(socks, k.Token)
	if lib.Has(mptcpinfo.FieldBytes) {
		if li.BytesSent != uint64(sent) || li.BytesAcked != uint64(sent) || li.BytesReceived != uint64(received) {
			t.Errorf("library: %d bytes sent, %d acknowledged, %d received; the test sent %d and received %d", li.BytesSent, li.BytesAcked, li.BytesReceived, sent, received)
		}
		// Every byte of the connection went over some subflow.
		var subSent, subReceived uint64
		for _, sk := range subs {
			subSent += sk.BytesSent
			subReceived += sk.BytesReceived
		}
		if subSent < li.BytesSent || subReceived < li.BytesReceived {
			t.Errorf("ss -ti: the subflows sent %d bytes and received %d, less than the library's connection counters %d and %d", subSent, subReceived, li.BytesSent, li.BytesReceived)
		}
		// iproute2 prints the connection's byte counters since 6.7.
		if k.Has("bytes_sent") {
			if li.BytesSent != k.BytesSent || li.BytesReceived != k.BytesReceived || li.BytesAcked != k.BytesAcked || li.BytesRetrans != k.BytesRetrans {
				t.Errorf("bytes sent/received/acked/retransmitted: library %d/%d/%d/%d, ss -Mi %d/%d/%d/%d",
					li.BytesSent, li.BytesReceived, li.BytesAcked, li.BytesRetrans, k.BytesSent, k.BytesReceived, k.BytesAcked, k.BytesRetrans)
			}
		} else {
			t.Logf("this ss does not print the connection's byte counters: compared with the subflows' only")
		}
	}

	if len(lib.Subflows) != len(subs) {
		t.Errorf("subflows: library %d, ss -ti %d", len(lib.Subflows), len(subs))
	}
	type ends struct{ local, remote netip.AddrPort }
	kernel := map[ends]testbed.TCPSocket{}
	for _, sk := range subs {
		kernel[ends{unmap(sk.Local), unmap(sk.Peer)}] = sk
	}
	for _, sf := range lib.Subflows {
		sk, ok := kernel[ends{unmap(sf.Local), unmap(sf.Remote)}]
		if !ok {
			t.Errorf("subflow %d %s -> %s: not listed by ss -ti", sf.ID, sf.Local, sf.Remote)
			continue
		}
		if sf.State() != tcpEstablished || sk.State != "ESTAB" {
			t.Errorf("subflow %d %s -> %s: state %d, ss -ti %s", sf.ID, sf.Local, sf.Remote, sf.State(), sk.State)
		}
		if sf.BytesSent() != sk.BytesSent || sf.BytesReceived() != sk.BytesReceived || sf.BytesAcked() != sk.BytesAcked || sf.BytesRetrans() != sk.BytesRetrans {
			t.Errorf("subflow %d %s -> %s: bytes sent/received/acked/retransmitted: library %d/%d/%d/%d, ss -ti %d/%d/%d/%d",
				sf.ID, sf.Local, sf.Remote, sf.BytesSent(), sf.BytesReceived(), sf.BytesAcked(), sf.BytesRetrans(),
				sk.BytesSent, sk.BytesReceived, sk.BytesAcked, sk.BytesRetrans)
		}
	}
	return li.Token
}

// counts is what must not move while a connection is idle: the connection's
// sequence numbers and byte counters and those of its first subflows (the
// last_data_* ages do move).
type counts struct {
	token                          uint32
	subflows                       int
	writeSeq, sndUna, rcvNxt       uint64
	sent, received, acked, retrans uint64
	subflowSent, subflowReceived   [4]uint64
}

func counters(s *mptcpinfo.Snapshot) counts {
	i := s.Info
	c := counts{
		token: i.Token, subflows: len(s.Subflows),
		writeSeq: i.WriteSeq, sndUna: i.SndUna, rcvNxt: i.RcvNxt,
		sent: i.BytesSent, received: i.BytesReceived, acked: i.BytesAcked, retrans: i.BytesRetrans,
	}
	for k := range min(len(s.Subflows), len(c.subflowSent)) {
		c.subflowSent[k], c.subflowReceived[k] = s.Subflows[k].BytesSent(), s.Subflows[k].BytesReceived()
	}
	return c
}
