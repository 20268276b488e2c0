package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/mptcpx/mptcpx/conntrace"
)

// pathLog follows mptcpcat's one connection through mptcpx's hooks and
// keeps, for every path it used, the bytes it carried: also those of
// subflows that are gone by the end, which Conn.Info no longer lists.
type pathLog struct {
	mu       sync.Mutex
	token    uint32
	mptcp    bool
	fallback conntrace.FallbackReason
	sent     uint64 // at the MPTCP level
	received uint64
	paths    []path
}

// path is one subflow as the hooks saw it.
type path struct {
	id             uint32
	local, remote  netip.AddrPort
	sent, received uint64
	rtt            time.Duration
	gone           string // "": open at the end; else how it went
}

func (p *pathLog) DialStart(ctx context.Context, _ conntrace.DialStart) (context.Context, conntrace.ConnHooks) {
	return ctx, p
}
func (p *pathLog) Accepted(net.Conn, time.Time) conntrace.ConnHooks { return p }
func (p *pathLog) DialFailed(error, time.Time)                      {}
func (p *pathLog) Established(net.Conn, time.Time)                  {}
func (p *pathLog) Closed(time.Time)                                 {}

func (p *pathLog) Sampled(s *conntrace.Sample) {
	p.mu.Lock()
	defer p.mu.Unlock()
	snap := s.Snapshot
	if snap.MPTCP {
		p.mptcp = true
		if snap.Info.Token != 0 {
			p.token = snap.Info.Token
		}
	}
	p.fallback = s.Fallback
	p.sent += s.Sent
	p.received += s.Received
	for _, i := range s.Added {
		sf := &snap.Subflows[i]
		p.paths = append(p.paths, path{id: sf.ID, local: unmap(sf.Local), remote: unmap(sf.Remote)})
	}
	for i, d := range s.SubflowDeltas {
		if pa := p.path(snap.Subflows[i].ID); pa != nil {
			pa.sent += d.Sent
			pa.received += d.Received
			if r := snap.Subflows[i].RTT(); r > 0 {
				pa.rtt = r
			}
		}
	}
	for _, r := range s.Removed {
		if r.New {
			p.paths = append(p.paths, path{id: r.ID, local: unmap(r.Local), remote: unmap(r.Remote)})
		}
		if pa := p.path(r.ID); pa != nil {
			pa.sent += r.Unsampled.Sent
			pa.received += r.Unsampled.Received
			pa.gone = "removed"
		}
	}
	for _, f := range s.FailedJoins {
		p.paths = append(p.paths, path{id: f.ID, local: unmap(f.Local), remote: unmap(f.Remote),
			gone: fmt.Sprintf("join failed (%s, %d SYN retransmissions)", stateName(f.State), f.SynRetransmits)})
	}
}

// path returns the open path with subflow id.
func (p *pathLog) path(id uint32) *path {
	for i := range p.paths {
		if pa := &p.paths[i]; pa.id == id && pa.gone == "" {
			return pa
		}
	}
	return nil
}

// summary prints every path of the connection with what it carried.
func (p *pathLog) summary(w io.Writer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.mptcp:
		fmt.Fprintf(w, "mptcpcat: summary: MPTCP token 0x%08x, %d subflows, sent %s, received %s\n",
			p.token, len(p.paths), size(p.sent), size(p.received))
	case p.fallback != conntrace.FallbackNone:
		fmt.Fprintf(w, "mptcpcat: summary: plain TCP (%s)\n", p.fallback)
		return
	default:
		fmt.Fprintln(w, "mptcpcat: summary: no MPTCP statistics")
		return
	}
	for _, pa := range p.paths {
		state := pa.gone
		if state == "" {
			state = "open until the end"
		}
		fmt.Fprintf(w, "mptcpcat:   path %d  %s -> %s  sent %s  received %s  rtt %s  %s\n",
			pa.id, pa.local, pa.remote, size(pa.sent), size(pa.received), rtt(uint32(pa.rtt.Microseconds())), state)
	}
}

// unmap returns ap with an IPv4-mapped address unmapped.
func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
