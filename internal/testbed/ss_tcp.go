package testbed

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// TCPSocket is one TCP socket as `ss -ti` shows it: the kernel's struct
// tcp_info. MPTCP subflows are TCP sockets and are listed too, with MPTCP set.
// ss prints a counter only while it is not zero, so an absent counter reads 0.
type TCPSocket struct {
	Socket

	// CongestionControl is the algorithm's name ("cubic", "bbr", ...).
	CongestionControl string
	// RTT and RTTVar are the smoothed round-trip time and its variance
	// ("rtt:RTT/RTTVAR" in milliseconds); MinRTT is "minrtt".
	RTT, RTTVar, MinRTT time.Duration
	MSS, Cwnd           int
	// Byte counters: tcpi_bytes_sent (including retransmissions),
	// tcpi_bytes_received, tcpi_bytes_acked, tcpi_bytes_retrans.
	BytesSent, BytesReceived, BytesAcked, BytesRetrans uint64

	// MPTCP describes the MPTCP subflow carried by this socket, nil for a
	// plain TCP socket.
	MPTCP *SubflowInfo
}

// SubflowInfo is the MPTCP part of a subflow (ss prints it after
// "tcp-ulp-mptcp"), from the kernel's subflow diag attributes.
type SubflowInfo struct {
	// Flags are ss's letters: M/m MP_CAPABLE sent/received, J/j MP_JOIN
	// sent/received, b backup, e fully established, c connected, ...
	Flags string
	// LocalToken is the token of the MPTCP connection the subflow belongs
	// to (MPTCPSocket.Token on the same side); 0 on a listener.
	// RemoteToken is the peer's token where the subflow keeps it: on the
	// joining side of an MP_JOIN subflow; 0 elsewhere.
	LocalToken, RemoteToken uint32
	// LocalID and RemoteID are the address ids of the two ends (0 for the
	// connection's initial addresses, endpoint ids otherwise).
	LocalID, RemoteID int
	// Fields holds every key:value ss printed for the subflow.
	Fields map[string]string
}

// IsSubflow reports whether the socket is an MPTCP subflow.
func (s TCPSocket) IsSubflow() bool { return s.MPTCP != nil }

// ParseTCP parses the output of `ss -n -t -i` (other socket kinds in the
// same output are skipped when ss printed the Netid column).
func ParseTCP(out string) ([]TCPSocket, error) {
	entries, err := splitSS(out, "tcp")
	if err != nil {
		return nil, err
	}
	socks := make([]TCPSocket, 0, len(entries))
	for _, e := range entries {
		s := TCPSocket{Socket: e.Socket}
		fields, ulp, isSubflow := parseDetails(e.details, "tcp-ulp-mptcp")
		s.Fields = fields
		if err := s.parse(e.details, ulp, isSubflow); err != nil {
			return nil, fmt.Errorf("ss -ti: socket %s -> %s: %w", s.Local, s.Peer, err)
		}
		socks = append(socks, s)
	}
	return socks, nil
}

// ssTCPFlags are the bare words ss prints before the congestion control
// algorithm's name.
var ssTCPFlags = map[string]bool{"ts": true, "sack": true, "ecn": true, "ecnseen": true, "fastopen": true}

func (s *TCPSocket) parse(details, ulp []string, isSubflow bool) error {
	// The algorithm is the last bare word before the first key:value.
	for _, tok := range details {
		if strings.Contains(tok, ":") || tok == "tcp-ulp-mptcp" {
			break
		}
		if !ssTCPFlags[tok] {
			s.CongestionControl = tok
		}
	}
	p := fieldParser{fields: s.Fields}
	s.MSS = int(p.dec("mss"))
	s.Cwnd = int(p.dec("cwnd"))
	s.BytesSent = p.dec("bytes_sent")
	s.BytesReceived = p.dec("bytes_received")
	s.BytesAcked = p.dec("bytes_acked")
	s.BytesRetrans = p.dec("bytes_retrans")
	if p.err != nil {
		return p.err
	}
	if v, ok := s.Fields["rtt"]; ok {
		rtt, rttvar, _ := strings.Cut(v, "/")
		var err error
		if s.RTT, err = parseMillis(rtt); err != nil {
			return fmt.Errorf("rtt:%s: %w", v, err)
		}
		if s.RTTVar, err = parseMillis(rttvar); err != nil {
			return fmt.Errorf("rtt:%s: %w", v, err)
		}
	}
	if v, ok := s.Fields["minrtt"]; ok {
		var err error
		if s.MinRTT, err = parseMillis(v); err != nil {
			return fmt.Errorf("minrtt:%s: %w", v, err)
		}
	}
	if !isSubflow {
		return nil
	}
	sf := &SubflowInfo{}
	sf.Fields, _, _ = parseDetails(ulp, "")
	sf.Flags = sf.Fields["flags"]
	if v, ok := sf.Fields["token"]; ok {
		// token:REMOTE(id:RID)/LOCAL(id:LID)
		remote, local, ok := strings.Cut(v, "/")
		if !ok {
			return fmt.Errorf("token:%s: want REMOTE(id:N)/LOCAL(id:N)", v)
		}
		var err error
		if sf.RemoteToken, sf.RemoteID, err = parseTokenID(remote); err != nil {
			return fmt.Errorf("token:%s: %w", v, err)
		}
		if sf.LocalToken, sf.LocalID, err = parseTokenID(local); err != nil {
			return fmt.Errorf("token:%s: %w", v, err)
		}
	}
	s.MPTCP = sf
	return nil
}

// parseTokenID parses "b69668e4(id:1)".
func parseTokenID(s string) (uint32, int, error) {
	tok, rest, ok := strings.Cut(s, "(id:")
	if !ok || !strings.HasSuffix(rest, ")") {
		return 0, 0, fmt.Errorf("%q: want TOKEN(id:N)", s)
	}
	t, err := strconv.ParseUint(tok, 16, 32)
	if err != nil {
		return 0, 0, err
	}
	id, err := strconv.ParseUint(strings.TrimSuffix(rest, ")"), 10, 8)
	if err != nil {
		return 0, 0, err
	}
	return uint32(t), int(id), nil
}

// parseMillis parses ss's milliseconds with a fraction ("0.016").
func parseMillis(s string) (time.Duration, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, err
	}
	return time.Duration(f * float64(time.Millisecond)), nil
}

// SubflowsOf returns the subflows among socks that belong to the MPTCP
// connection with the local token token (MPTCPSocket.Token in the same
// namespace). Token 0 (listeners, connections without a token) matches
// nothing.
func SubflowsOf(socks []TCPSocket, token uint32) []TCPSocket {
	if token == 0 {
		return nil
	}
	var out []TCPSocket
	for _, s := range socks {
		if s.MPTCP != nil && s.MPTCP.LocalToken == token {
			out = append(out, s)
		}
	}
	return out
}

// TCPSockets lists the namespace's TCP sockets (not listeners), MPTCP
// subflows included, with `ss -n -t -i`.
func (ns *NS) TCPSockets() ([]TCPSocket, error) {
	out, err := ns.SS("-t", "-i")
	if err != nil {
		return nil, err
	}
	return ParseTCP(out)
}
