package integration_test

import (
	"strconv"
	"testing"

	"go.opentelemetry.io/otel/attribute"

	"github.com/mptcpx/mptcpx/internal/oteltest"
	"github.com/mptcpx/mptcpx/internal/testbed"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// TestPathHealthBackup: the client opens its second path as a backup (`ip
// mptcp endpoint add ... subflow backup` once the connection is up). The
// server's per-path series of that subflow carry mptcp.subflow.backup=true,
// from the subflow's establishment event (the flag the peer set in its
// MP_JOIN), and next to no data while the other path works; once the client
// clears the flag (MP_PRIO, a SubflowPriority event on the server), the
// subflow's later bytes go to the series with mptcp.subflow.backup=false.
// The client's events carry the peer's flag, not its own: its series of the
// subflow say false throughout (the kernel's events report what the peer
// asked).
func TestPathHealthBackup(t *testing.T) {
	requireEvents(t)
	b := testbed.New(t, testbed.Config{Paths: 2, NoEndpoints: true})
	tel := newTelemetry(t)
	ln := listen(t, b, tel)
	c, s := connect(t, b, tel, ln)
	rcv := receive(s)
	snd := newSender(c, 4)
	if err := snd.send(1000); err != nil {
		t.Fatal(err)
	}
	// The server's namespace's watcher opens with its first connection,
	// which waits for it a while only (100 ms): on a loaded machine the
	// join's event would come before it.
	waitWatching(t, s)
	if _, err := b.Client.Run("ip", "mptcp", "endpoint", "add", b.ClientAddr(1).String(), "dev", testbed.Iface(1),
		"id", strconv.Itoa(testbed.EndpointID(1)), "subflow", "backup"); err != nil {
		t.Fatal(err)
	}
	waitInfo(t, c, "2 established subflows", func(s *mptcpinfo.Snapshot) bool { return len(established(s)) == 2 })
	tel.waitSubflowsActive(t, 2, 2)
	if err := snd.send(2 << 20); err != nil {
		t.Fatal(err)
	}
	backup, regular := attribute.Bool("mptcp.subflow.backup", true), attribute.Bool("mptcp.subflow.backup", false)
	serverAddr := attribute.String("network.local.address", b.ServerAddr(0).String())
	// The server sees both subflows on the address the client dialed: the
	// backup one has its own series.
	var onBackup int64
	err := testbed.WaitFor(waitTimeout, func() (bool, error) {
		d, _ := oteltest.IntSum(t, tel.Metrics(t), "mptcp.subflow.io")
		for _, p := range d.DataPoints {
			if oteltest.Has(p.Attributes, []attribute.KeyValue{roleServer, receiveDir, serverAddr, backup}) {
				onBackup = p.Value
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatal("the server has no mptcp.subflow.io series with mptcp.subflow.backup=true")
	}
	if onBackup > 64<<10 {
		t.Errorf("the backup path received %d bytes of %d while the other worked", onBackup, snd.sent())
	}
	if _, err := b.Client.Run("ip", "mptcp", "endpoint", "change", "id", "1", "nobackup"); err != nil {
		t.Fatal(err)
	}
	var moved int64
	err = testbed.WaitFor(waitTimeout, func() (bool, error) {
		if err := snd.send(256 << 10); err != nil {
			return false, err
		}
		moved = oteltest.Total(t, tel.Metrics(t), "mptcp.subflow.io", roleServer, receiveDir, serverAddr, regular)
		return moved > 0, nil
	})
	if err != nil {
		t.Fatalf("after nobackup, the server's mptcp.subflow.io{mptcp.subflow.backup=false} stayed at %d: %v", moved, err)
	}
	halfClose(t, c, snd, rcv)
	c.Close()
	s.Close()
	sm := tel.Metrics(t)
	tel.CheckClosedGauges(t)
	after := oteltest.Total(t, sm, "mptcp.subflow.io", roleServer, receiveDir, serverAddr, backup)
	t.Logf("server: %d bytes received on the path while it was a backup, %d after (and %d before, counted there still)", onBackup, moved, after)
	// The priority change is an event of the server's span too.
	prio := oteltest.Events(tel.Span(t, roleServer), "mptcp.subflow.priority")
	if len(prio) != 1 {
		t.Errorf("server: %d mptcp.subflow.priority events, want 1", len(prio))
	}
	// The client: its own flag is not in its events.
	client := oteltest.ByKey(t, sm, "mptcp.subflow.io", "mptcp.subflow.backup", roleClient, transmitDir,
		attribute.String("network.local.address", b.ClientAddr(1).String()))
	if len(client) != 1 || client["false"] == 0 {
		t.Errorf("client mptcp.subflow.io of its second path by mptcp.subflow.backup: %v, want all under false", client)
	}
}
