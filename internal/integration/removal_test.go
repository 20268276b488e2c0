package integration_test

import (
	"testing"
	"time"

	"github.com/mptcpx/mptcpx/internal/oteltest"
	"github.com/mptcpx/mptcpx/internal/testbed"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// flow keeps writing to a connection through a sender in the background
// until stopped, so that a test can change the paths while data moves.
type flow struct {
	snd  *sender
	stop chan struct{}
	done chan error
}

// chunk is how much a flow writes at a time.
const chunk = 64 << 10

func startFlow(snd *sender) *flow {
	f := &flow{snd: snd, stop: make(chan struct{}), done: make(chan error, 1)}
	go func() {
		for {
			select {
			case <-f.stop:
				f.done <- nil
				return
			default:
			}
			if err := snd.send(chunk); err != nil {
				f.done <- err
				return
			}
		}
	}()
	return f
}

// waitSent waits until n more bytes than mark have been written.
func (f *flow) waitSent(t testing.TB, mark, n int64) {
	t.Helper()
	err := testbed.WaitFor(waitTimeout, func() (bool, error) { return f.snd.sent() >= mark+n, nil })
	if err != nil {
		t.Fatalf("waiting for %d bytes written after %d: %v (%d written)", n, mark, err, f.snd.sent())
	}
}

// end stops the flow and returns its write error.
func (f *flow) end() error {
	close(f.stop)
	return <-f.done
}

// TestRemoval deletes the endpoint of path 1 while data flows over three
// paths: the client's span gets an mptcp.subflow.removed event for that
// path's subflow no later than two sample intervals after the deletion, the
// server's span one for the same subflow, and the transfer goes on over the
// other paths and arrives intact.
func TestRemoval(t *testing.T) {
	b := testbed.New(t, testbed.Config{Paths: 3, RateLimit: map[int]string{0: "20mbit"}})
	tel := newTelemetry(t)
	ln := listen(t, b, tel)
	c, s := connect(t, b, tel, ln)
	rcv := receive(s)
	snd := newSender(c, 2)
	if err := snd.send(1); err != nil {
		t.Fatal(err)
	}
	waitInfo(t, c, "3 established subflows", func(s *mptcpinfo.Snapshot) bool { return len(established(s)) == 3 })
	// A subflow that the sampler never saw cannot be reported as removed.
	tel.waitSubflowsActive(t, 3, 3)

	f := startFlow(snd)
	f.waitSent(t, 0, 1<<20)
	before := time.Now()
	if err := b.DeleteEndpoint(1); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	gone := b.ClientAddr(1)
	waitInfo(t, c, "the subflow from "+gone.String()+" to go", func(s *mptcpinfo.Snapshot) bool {
		for _, sf := range s.Subflows {
			if sf.Local.Addr().Unmap() == gone {
				return false
			}
		}
		return true
	})
	f.waitSent(t, f.snd.sent(), 1<<20)
	if err := f.end(); err != nil {
		t.Fatal(err)
	}
	halfClose(t, c, snd, rcv)
	c.Close()
	s.Close()

	cs, ss := tel.Span(t, roleClient), tel.Span(t, roleServer)
	var goneID int64 = -1
	for _, e := range oteltest.SubflowEvents(t, cs, "mptcp.subflow.added") {
		if e.Local.Addr() == gone {
			goneID = e.ID
		}
	}
	if goneID < 0 {
		t.Fatalf("client span: no mptcp.subflow.added event from %s", gone)
	}
	removed := oteltest.Events(cs, "mptcp.subflow.removed")
	if len(removed) != 1 {
		t.Fatalf("client span: %d mptcp.subflow.removed events, want 1: %v", len(removed), removed)
	}
	ev, e := removed[0], oteltest.SubflowEvent(t, removed[0])
	if e.ID != goneID || e.Local.Addr() != gone || e.Peer != target(b, ln) {
		t.Errorf("client span: removed subflow %d %s -> %s, want %d from %s to %s", e.ID, e.Local, e.Peer, goneID, gone, target(b, ln))
	}
	if ev.Time.Before(before) || ev.Time.After(deleted.Add(2*interval)) {
		t.Errorf("mptcp.subflow.removed at %v after the deletion ended, want within two sample intervals (%v)", ev.Time.Sub(deleted), 2*interval)
	}
	sent, ok := oteltest.Attr(ev.Attributes, "mptcp.subflow.bytes.sent")
	if _, ok2 := oteltest.Attr(ev.Attributes, "mptcp.subflow.rtt"); !ok || !ok2 || sent.AsInt64() < 0 {
		t.Errorf("client span: removed event without its last counters: %v", ev.Attributes)
	}
	t.Logf("subflow removed %v after the deletion; it had sent %d bytes", ev.Time.Sub(deleted).Round(time.Millisecond), sent.AsInt64())

	removed = oteltest.Events(ss, "mptcp.subflow.removed")
	if len(removed) != 1 {
		t.Fatalf("server span: %d mptcp.subflow.removed events, want 1: %v", len(removed), removed)
	}
	if e := oteltest.SubflowEvent(t, removed[0]); e.Peer.Addr() != gone {
		t.Errorf("server span: removed subflow %s -> %s, want the one from %s", e.Local, e.Peer, gone)
	}

	sm := tel.Metrics(t)
	tel.CheckClosedGauges(t)
	if v := oteltest.Total(t, sm, "mptcp.subflow.opened", roleClient); v != 3 {
		t.Errorf("mptcp.subflow.opened{client} = %d, want 3", v)
	}
}
