package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// recorder keeps, for the report, what mptcpx told its conntrace hooks about
// every connection of the demo: when it was established, every subflow it
// had with the last counters read for it, the fallback, and when it closed.
// The hooks run on the dialing, accepting and closing goroutines and on
// mptcpx's sampler goroutine, so everything is guarded by mu.
type recorder struct {
	start time.Time

	mu    sync.Mutex
	conns []*connRecord
	open  int           // established and not yet closed
	idle  chan struct{} // closed (and replaced) each time open drops to 0
}

func newRecorder(start time.Time) *recorder {
	return &recorder{start: start, idle: make(chan struct{})}
}

// tracer returns a conntrace.Hooks whose connections are labelled with
// what this end is (self) and what the other end is when it is not traced
// itself (peer).
func (r *recorder) tracer(self, peer string) conntrace.Hooks {
	return &labelTracer{r: r, self: self, peer: peer}
}

// connRecord is what is known of one end of one connection.
type connRecord struct {
	seq           int    // order of establishment
	role          string // "client" or "server"
	self, peer    string // what this end and the other end are
	local, remote netip.AddrPort

	established, closed time.Time
	isClosed            bool

	mptcp       bool // some sample saw the connection speak MPTCP
	token       uint32
	fallback    conntrace.FallbackReason
	subflowsMax int
	sent, recv  uint64 // MPTCP-level bytes: the sum of the sampler's deltas

	subflows []*subflowRecord // in order of first appearance
	events   []event
	paths    conntrace.PathsDiagnosis // why it has the paths it has, as last diagnosed
}

// subflowRecord is one subflow with the last values read for it.
type subflowRecord struct {
	id            uint32
	local, remote netip.AddrPort
	rtt           time.Duration
	sent, recv    uint64
	removed       bool
}

// event is one timestamped change, in the order the hooks reported it.
type event struct {
	at   time.Time
	what string
}

type labelTracer struct {
	r          *recorder
	self, peer string
}

func (t *labelTracer) DialStart(ctx context.Context, _ conntrace.DialStart) (context.Context, conntrace.ConnHooks) {
	return ctx, &connHooks{r: t.r, rec: &connRecord{role: "client", self: t.self, peer: t.peer}}
}

func (t *labelTracer) Accepted(net.Conn, time.Time) conntrace.ConnHooks {
	return &connHooks{r: t.r, rec: &connRecord{role: "server", self: t.self, peer: t.peer}}
}

// connHooks follows one connection for the recorder.
type connHooks struct {
	r   *recorder
	rec *connRecord
}

func (h *connHooks) DialFailed(error, time.Time) {}

func (h *connHooks) Established(c net.Conn, at time.Time) {
	h.r.mu.Lock()
	defer h.r.mu.Unlock()
	rec := h.rec
	rec.local, rec.remote = addrPort(c.LocalAddr()), addrPort(c.RemoteAddr())
	rec.established = at
	rec.seq = len(h.r.conns)
	h.r.conns = append(h.r.conns, rec)
	h.r.open++
	rec.events = append(rec.events, event{at, "established"})
}

// Sampled copies what the report needs: the Sample and its Snapshot belong
// to the sampler and are reused after the call.
func (h *connHooks) Sampled(s *conntrace.Sample) {
	h.r.mu.Lock()
	defer h.r.mu.Unlock()
	rec := h.rec
	snap := s.Snapshot
	if snap.MPTCP {
		rec.mptcp = true
		if snap.Info.Token != 0 {
			rec.token = snap.Info.Token
		}
	}
	rec.sent += s.Sent
	rec.recv += s.Received
	rec.subflowsMax = s.SubflowsMax
	if s.FallbackChanged {
		rec.fallback = s.Fallback
		rec.events = append(rec.events, event{s.Time, "fallback (" + s.Fallback.String() + ")"})
	}
	rec.paths = s.Paths
	if s.PathsChanged {
		rec.events = append(rec.events, event{s.Time, "paths limited by " + s.Paths.Limit.String()})
	}
	for _, i := range s.Added {
		sf := &snap.Subflows[i]
		rec.subflows = append(rec.subflows, &subflowRecord{id: subflowID(sf, i), local: unmap(sf.Local), remote: unmap(sf.Remote)})
		rec.events = append(rec.events, event{s.Time, fmt.Sprintf("subflow %d added", subflowID(sf, i))})
	}
	for i := range snap.Subflows {
		sf := &snap.Subflows[i]
		if r := rec.subflow(subflowID(sf, i)); r != nil {
			// Counters only grow: keep the largest values read, in case
			// a later reading comes from a subflow being torn down.
			if rtt := sf.RTT(); rtt > 0 {
				r.rtt = rtt
			}
			r.sent, r.recv = max(r.sent, sf.BytesSent()), max(r.recv, sf.BytesReceived())
		}
	}
	for _, rm := range s.Removed {
		if rm.New {
			// Came and went between two samples.
			rec.subflows = append(rec.subflows, &subflowRecord{id: rm.ID, local: unmap(rm.Local), remote: unmap(rm.Remote)})
			rec.events = append(rec.events, event{s.Time, fmt.Sprintf("subflow %d added", rm.ID)})
		}
		if r := rec.subflow(rm.ID); r != nil {
			r.removed = true
			r.sent = max(r.sent, rm.BytesSent+rm.Unsampled.Sent)
			r.recv = max(r.recv, rm.BytesReceived+rm.Unsampled.Received)
			if rm.RTT > 0 {
				r.rtt = rm.RTT
			}
		}
		rec.events = append(rec.events, event{s.Time, fmt.Sprintf("subflow %d removed", rm.ID)})
	}
}

func (h *connHooks) Closed(at time.Time) {
	h.r.mu.Lock()
	defer h.r.mu.Unlock()
	h.rec.closed, h.rec.isClosed = at, true
	h.rec.events = append(h.rec.events, event{at, "closed"})
	h.r.open--
	if h.r.open == 0 {
		close(h.r.idle)
		h.r.idle = make(chan struct{})
	}
}

// subflowID is the kernel's id of a subflow, or its position (from 1) on
// kernels that report no ids (5.16 to 6.4), which is how the sampler
// numbers them there too.
func subflowID(sf *mptcpinfo.Subflow, i int) uint32 {
	if sf.ID != 0 {
		return sf.ID
	}
	return uint32(i + 1)
}

func (rec *connRecord) subflow(id uint32) *subflowRecord {
	for _, s := range rec.subflows {
		if s.id == id {
			return s
		}
	}
	return nil
}

// waitClosed returns once every established connection has been closed (so
// each has had its final sample), or when ctx ends.
func (r *recorder) waitClosed(ctx context.Context) error {
	for {
		r.mu.Lock()
		open, idle := r.open, r.idle
		r.mu.Unlock()
		if open == 0 {
			return nil
		}
		select {
		case <-idle:
		case <-ctx.Done():
			return fmt.Errorf("%d connections still open: %w", open, context.Cause(ctx))
		}
	}
}

// connections returns the records in report order: each client followed by
// the server end of the same connection (matched by address), then the
// server ends whose client was not traced. r.mu must be held.
func (r *recorder) connections() [][]*connRecord {
	conns := append([]*connRecord(nil), r.conns...)
	sort.Slice(conns, func(i, j int) bool { return conns[i].seq < conns[j].seq })
	paired := make(map[*connRecord]bool)
	var out [][]*connRecord
	for _, c := range conns {
		if c.role != "client" {
			continue
		}
		group := []*connRecord{c}
		for _, s := range conns {
			if s.role == "server" && !paired[s] && s.remote == c.local && s.local == c.remote {
				paired[s] = true
				group = append(group, s)
				break
			}
		}
		out = append(out, group)
	}
	for _, s := range conns {
		if s.role == "server" && !paired[s] {
			out = append(out, []*connRecord{s})
		}
	}
	return out
}

// addrPort converts a TCP address; IPv4-mapped IPv6 addresses are shown as
// IPv4, as the kernel's subflow addresses are.
func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		return unmap(ta.AddrPort())
	}
	return netip.AddrPort{}
}

func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
