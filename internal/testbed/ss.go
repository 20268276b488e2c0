package testbed

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// The parsers read the text of `ss -n -i` as printed by iproute2 (checked
// against 6.1; later versions add fields, which land in Socket.Fields). ss
// prints one line per socket, optionally preceded by a header line, followed
// by an indented line of details when -i is given:
//
//	State Recv-Q Send-Q Local Address:Port  Peer Address:Port Process
//	ESTAB 0      0      10.0.1.1%mpx1:49501     10.0.0.2:5000
//		 cubic wscale:7,7 rtt:0.084/0.065 bytes_sent:240 ...
//
// The Netid column appears when several socket kinds are listed (ss -tM),
// the State column disappears when a single state is selected (ss state
// established). Details are "key:value" pairs, bare flags ("app_limited"),
// and a few "key value" pairs (send, pacing_rate, delivery_rate). ss leaves
// out most counters while they are zero.

// Socket is what ss prints for every socket kind.
type Socket struct {
	// Netid is the socket kind ("tcp", "mptcp") when ss printed the Netid
	// column, else empty.
	Netid string
	// State is the state as ss names it: "ESTAB", "LISTEN", "CLOSE-WAIT",
	// ...; empty when ss left the column out.
	State        string
	RecvQ, SendQ uint64
	// Local and Peer are the socket's addresses. A wildcard ("*") is the
	// zero netip.Addr; IPv4-mapped IPv6 addresses are kept as printed.
	Local, Peer netip.AddrPort
	// LocalIface is the interface the socket is bound to (ss prints
	// ADDR%IFACE), if any. MPTCP binds subflows that start from an endpoint
	// with a device to that device.
	LocalIface string
	// Fields holds every detail of the socket's info line as printed,
	// bare flags with an empty value.
	Fields map[string]string
}

// Has reports whether ss printed the detail key (ss leaves out most
// counters while they are zero, and older versions do not know newer ones).
func (s Socket) Has(key string) bool {
	_, ok := s.Fields[key]
	return ok
}

// ssEntry is one socket of ss output: its columns and its detail tokens.
type ssEntry struct {
	Socket
	details []string
}

var ssStates = map[string]bool{
	"UNCONN": true, "ESTAB": true, "SYN-SENT": true, "SYN-RECV": true,
	"FIN-WAIT-1": true, "FIN-WAIT-2": true, "TIME-WAIT": true, "CLOSE": true,
	"UNCONN-WAIT": true, "CLOSE-WAIT": true, "LAST-ACK": true, "LISTEN": true,
	"CLOSING": true, "UNKNOWN": true,
}

// splitSS splits ss output into sockets. kind is the Netid that the caller
// parses; sockets of another kind (when ss printed the Netid column) are
// dropped.
func splitSS(out, kind string) ([]ssEntry, error) {
	var (
		entries         []ssEntry
		sawHeader       bool
		hasNetid, hasSt bool
	)
	for n, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		fields := strings.Fields(line)
		switch {
		case fields[0] == "Netid" || fields[0] == "State" || fields[0] == "Recv-Q":
			sawHeader = true
			hasNetid = fields[0] == "Netid"
			hasSt = hasNetid && len(fields) > 1 && fields[1] == "State" || fields[0] == "State"
			continue
		case line[0] == ' ' || line[0] == '\t':
			if len(entries) == 0 {
				return nil, fmt.Errorf("ss output line %d: details before any socket: %q", n+1, line)
			}
			e := &entries[len(entries)-1]
			e.details = append(e.details, fields...)
			continue
		}
		if !sawHeader {
			// Without a header (ss -H): guess the columns from the
			// state names.
			hasSt = ssStates[fields[0]] || len(fields) > 1 && ssStates[fields[1]]
			hasNetid = !ssStates[fields[0]] && hasSt
		}
		var e ssEntry
		i := 0
		if hasNetid {
			e.Netid = fields[i]
			i++
		}
		if hasSt {
			if i >= len(fields) {
				return nil, fmt.Errorf("ss output line %d: too few columns: %q", n+1, line)
			}
			e.State = fields[i]
			i++
		}
		if len(fields) < i+4 {
			return nil, fmt.Errorf("ss output line %d: too few columns: %q", n+1, line)
		}
		var err error
		if e.RecvQ, err = strconv.ParseUint(fields[i], 10, 64); err != nil {
			return nil, fmt.Errorf("ss output line %d: Recv-Q: %w", n+1, err)
		}
		if e.SendQ, err = strconv.ParseUint(fields[i+1], 10, 64); err != nil {
			return nil, fmt.Errorf("ss output line %d: Send-Q: %w", n+1, err)
		}
		if e.Local, e.LocalIface, err = parseSSAddr(fields[i+2]); err != nil {
			return nil, fmt.Errorf("ss output line %d: local address: %w", n+1, err)
		}
		if e.Peer, _, err = parseSSAddr(fields[i+3]); err != nil {
			return nil, fmt.Errorf("ss output line %d: peer address: %w", n+1, err)
		}
		entries = append(entries, e)
	}
	kept := entries[:0]
	for _, e := range entries {
		if e.Netid == "" || e.Netid == kind {
			kept = append(kept, e)
		}
	}
	return kept, nil
}

// parseSSAddr parses ss's ADDR[%IFACE]:PORT, where ADDR is an IPv4 address,
// a bracketed IPv6 address or "*", and PORT a number or "*".
func parseSSAddr(s string) (netip.AddrPort, string, error) {
	colon := strings.LastIndexByte(s, ':')
	if colon < 0 {
		return netip.AddrPort{}, "", fmt.Errorf("%q has no port", s)
	}
	host, portText := s[:colon], s[colon+1:]
	var port uint64
	if portText != "*" {
		var err error
		if port, err = strconv.ParseUint(portText, 10, 16); err != nil {
			return netip.AddrPort{}, "", fmt.Errorf("%q: bad port: %w", s, err)
		}
	}
	var iface string
	if pct := strings.LastIndexByte(host, '%'); pct >= 0 && !strings.Contains(host[pct:], "]") {
		host, iface = host[:pct], host[pct+1:]
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "*" {
		return netip.AddrPortFrom(netip.Addr{}, uint16(port)), iface, nil
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, "", fmt.Errorf("%q: %w", s, err)
	}
	return netip.AddrPortFrom(addr, uint16(port)), iface, nil
}

// ssSpacedKeys are the details that ss prints as "key value".
var ssSpacedKeys = map[string]bool{"send": true, "pacing_rate": true, "delivery_rate": true}

// parseDetails turns detail tokens into a map; it stops at the token stop
// (when not empty) and returns the tokens after it and whether it was found.
func parseDetails(tokens []string, stop string) (fields map[string]string, rest []string, found bool) {
	fields = make(map[string]string, len(tokens))
	for i := 0; i < len(tokens); i++ {
		tok := tokens[i]
		if stop != "" && tok == stop {
			return fields, tokens[i+1:], true
		}
		if k, v, ok := strings.Cut(tok, ":"); ok {
			fields[k] = v
			continue
		}
		if ssSpacedKeys[tok] && i+1 < len(tokens) {
			fields[tok] = tokens[i+1]
			i++
			continue
		}
		fields[tok] = ""
	}
	return fields, nil, false
}

// fieldParser reads typed values out of a detail map and remembers the first
// error.
type fieldParser struct {
	fields map[string]string
	err    error
}

func (p *fieldParser) uint(key string, base, bits int) uint64 {
	v, ok := p.fields[key]
	if !ok {
		return 0
	}
	n, err := strconv.ParseUint(v, base, bits)
	if err != nil && p.err == nil {
		p.err = fmt.Errorf("%s:%s: %w", key, v, err)
	}
	return n
}

func (p *fieldParser) dec(key string) uint64 { return p.uint(key, 10, 64) }

func (p *fieldParser) hex64(key string) uint64 { return p.uint(key, 16, 64) }

func (p *fieldParser) hex32(key string) uint32 { return uint32(p.uint(key, 16, 32)) }
