package testbed

import "fmt"

// MPTCPSocket is one MPTCP socket as `ss -Mi` shows it: the kernel's
// struct mptcp_info, read through sock_diag. ss prints a counter only while
// it is not zero, so an absent counter reads 0; Has tells them apart.
type MPTCPSocket struct {
	Socket

	// Token is the connection's local token (hex "token:"), the same as
	// SubflowInfo.LocalToken of its subflows.
	Token uint32
	// Subflows is mptcpi_subflows: the subflows besides the initial one.
	Subflows int
	// SubflowsTotal is mptcpi_subflows_total (Linux 6.7), printed by
	// newer ss only: all subflows including the initial one.
	SubflowsTotal                        int
	AddAddrSignal, AddAddrAccepted       int
	SubflowsMax                          int
	AddAddrSignalMax, AddAddrAcceptedMax int
	// RemoteKey: the peer's key was received (MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED).
	RemoteKey bool
	// Fallback: the connection fell back to plain TCP (MPTCP_INFO_FLAG_FALLBACK).
	Fallback bool
	// WriteSeq, SndUna and RcvNxt are the data-level sequence numbers.
	WriteSeq, SndUna, RcvNxt uint64
	// The byte counters (Linux 6.5) are printed by newer ss only.
	BytesSent, BytesReceived, BytesAcked, BytesRetrans uint64
}

// ParseMPTCP parses the output of `ss -n -M -i` (other socket kinds in the
// same output are skipped when ss printed the Netid column).
func ParseMPTCP(out string) ([]MPTCPSocket, error) {
	entries, err := splitSS(out, "mptcp")
	if err != nil {
		return nil, err
	}
	socks := make([]MPTCPSocket, 0, len(entries))
	for _, e := range entries {
		s := MPTCPSocket{Socket: e.Socket}
		s.Fields, _, _ = parseDetails(e.details, "")
		p := fieldParser{fields: s.Fields}
		s.Token = p.hex32("token")
		s.Subflows = int(p.dec("subflows"))
		s.SubflowsTotal = int(p.dec("subflows_total"))
		s.AddAddrSignal = int(p.dec("add_addr_signal"))
		s.AddAddrAccepted = int(p.dec("add_addr_accepted"))
		s.SubflowsMax = int(p.dec("subflows_max"))
		s.AddAddrSignalMax = int(p.dec("add_addr_signal_max"))
		s.AddAddrAcceptedMax = int(p.dec("add_addr_accepted_max"))
		s.RemoteKey = s.Has("remote_key")
		s.Fallback = s.Has("fallback")
		s.WriteSeq = p.hex64("write_seq")
		s.SndUna = p.hex64("snd_una")
		s.RcvNxt = p.hex64("rcv_nxt")
		s.BytesSent = p.dec("bytes_sent")
		s.BytesReceived = p.dec("bytes_received")
		s.BytesAcked = p.dec("bytes_acked")
		s.BytesRetrans = p.dec("bytes_retrans")
		if p.err != nil {
			return nil, fmt.Errorf("ss -Mi: socket %s -> %s: %w", s.Local, s.Peer, p.err)
		}
		socks = append(socks, s)
	}
	return socks, nil
}

// MPTCPSockets lists the namespace's MPTCP sockets (not listeners) with
// `ss -n -M -i`.
func (ns *NS) MPTCPSockets() ([]MPTCPSocket, error) {
	out, err := ns.SS("-M", "-i")
	if err != nil {
		return nil, err
	}
	return ParseMPTCP(out)
}
