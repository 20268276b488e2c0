package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
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
	// diag is what limits the connection's paths, as last diagnosed, and
	// local its local address (to propose commands with this host's
	// other addresses).
	diag  conntrace.PathsDiagnosis
	local netip.AddrPort
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
func (p *pathLog) Closed(time.Time)                                 {}

func (p *pathLog) Established(c net.Conn, _ time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ta, ok := c.LocalAddr().(*net.TCPAddr); ok {
		p.local = unmap(ta.AddrPort())
	}
}

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
	p.diag = s.Paths
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
	defer p.explain(w)
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

// explain prints, when something limited the connection's paths, why, and
// the command that changes it. p.mu is held.
func (p *pathLog) explain(w io.Writer) {
	if p.diag.Limit == conntrace.PathsLimitNone {
		return
	}
	fmt.Fprintf(w, "mptcpcat: paths: %s: %s\n", p.diag.Limit, p.diag)
	fmt.Fprintf(w, "mptcpcat: to change it: %s\n", remedy(p.diag, p.local.Addr(), hostAddrs()))
}

// hostAddr is an address of one of this host's interfaces.
type hostAddr struct {
	addr  netip.Addr
	iface string
}

// hostAddrs lists the addresses of this host's interfaces that are up and
// not loopback, in the process's network namespace.
func hostAddrs() []hostAddr {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []hostAddr
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if pfx, err := netip.ParsePrefix(a.String()); err == nil && !pfx.Addr().IsLinkLocalUnicast() {
				out = append(out, hostAddr{pfx.Addr(), ifc.Name})
			}
		}
	}
	return out
}

// remedy returns d's command with its ADDR and IF (an endpoint to add)
// filled in with this host's other addresses of the connection's family,
// one command each (at most four), or left as they are with a note when
// the host has none.
func remedy(d conntrace.PathsDiagnosis, local netip.Addr, addrs []hostAddr) string {
	cmd := d.Remedy()
	if !strings.Contains(cmd, "ADDR dev IF") {
		return cmd
	}
	var cmds []string
	for _, a := range addrs {
		if a.addr == local || a.addr.Is4() != local.Is4() || len(cmds) == 4 {
			continue
		}
		cmds = append(cmds, strings.NewReplacer("ADDR", a.addr.String(), "IF", a.iface).Replace(cmd))
	}
	if len(cmds) == 0 {
		return cmd + " (ADDR: another address of this host, IF: its interface; this host has no other " + family(local) + " address)"
	}
	return strings.Join(cmds, "; ")
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}
