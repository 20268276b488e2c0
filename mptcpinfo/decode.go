package mptcpinfo

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"unsafe"
)

// The decoders below turn bytes the kernel wrote into Go values. They are
// pure functions over byte slices, shared by the reader and the fuzz
// targets, and they never trust a size or count the kernel wrote back: every
// index is checked against the buffer it reads from.

// Address families as the kernel writes them in sockaddr.ss_family.
const (
	afInet  = 2
	afInet6 = 10
)

// ErrBadLength reports a kernel answer whose lengths do not fit the buffer
// that was passed in: a kernel newer or odder than this package knows.
var ErrBadLength = errors.New("mptcpinfo: kernel returned inconsistent lengths")

// decodeSockaddr decodes a struct sockaddr_in or sockaddr_in6 (as found in
// struct sockaddr_storage) into an address and port. IPv4-mapped IPv6
// addresses stay mapped, as the kernel reported them; netip.Addr.Unmap
// turns them into IPv4. An unknown family, or too few bytes, gives the zero
// AddrPort. IPv6 scope ids are not carried over.
func decodeSockaddr(b []byte) netip.AddrPort {
	if len(b) < 2 {
		return netip.AddrPort{}
	}
	family := binary.NativeEndian.Uint16(b)
	switch family {
	case afInet:
		if len(b) < 8 {
			return netip.AddrPort{}
		}
		port := binary.BigEndian.Uint16(b[2:])
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), port)
	case afInet6:
		if len(b) < 24 {
			return netip.AddrPort{}
		}
		port := binary.BigEndian.Uint16(b[2:])
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[8:24])), port)
	}
	return netip.AddrPort{}
}

// decodeInfo copies the first n bytes of an mptcp_info into dst and zeroes
// the rest, so fields the kernel did not write read as zero and Has reports
// them missing. It returns the number of bytes taken.
func decodeInfo(dst *Info, b []byte) int {
	raw := (*[SizeofInfo]byte)(unsafe.Pointer(dst))
	n := copy(raw[:], b)
	clear(raw[n:])
	return n
}

// decodeTCPInfo does the same for a tcp_info.
func decodeTCPInfo(dst *TCPInfo, b []byte) int {
	raw := unsafe.Slice((*byte)(unsafe.Pointer(dst)), unsafe.Sizeof(*dst))
	n := copy(raw, b)
	clear(raw[n:])
	return n
}

// decodeAddrs fills sf's addresses from a struct mptcp_subflow_addrs, of
// which b may hold only a prefix.
func decodeAddrs(sf *Subflow, b []byte) {
	sf.Local, sf.Remote = netip.AddrPort{}, netip.AddrPort{}
	if len(b) > 0 {
		sf.Local = decodeSockaddr(b[:min(len(b), 128)])
	}
	if len(b) > 128 {
		sf.Remote = decodeSockaddr(b[128:min(len(b), sizeofSubflowAddrs)])
	}
}

// setSubflows resizes s.Subflows to n, reusing its storage when it can.
func (s *Snapshot) setSubflows(n int) {
	if cap(s.Subflows) < n {
		s.Subflows = make([]Subflow, n, n+n/2+1)
	}
	s.Subflows = s.Subflows[:n]
}

// reset clears s for a new reading, keeping the Subflows storage.
func (s *Snapshot) reset() {
	sf := s.Subflows[:0]
	*s = Snapshot{Subflows: sf}
}

// fullInfoAnswer is what one getsockopt(MPTCP_FULL_INFO) call left behind,
// as decodeFullInfo needs it.
type fullInfoAnswer struct {
	// Head holds at least the 40 bytes of mptcp_full_info before mptcp_info,
	// then the mptcp_info the kernel copied.
	Head []byte
	// OptLen is the optlen the kernel wrote back (40 + mptcp_info bytes).
	OptLen int
	// Slots is how many elements each array had room for.
	Slots int
	// SubflowInfo and TCPInfo are the two arrays, Slots elements each of the
	// sizes that were asked for.
	SubflowInfo, TCPInfo []byte
}

// decodeFullInfo decodes an MPTCP_FULL_INFO answer into s. When the kernel
// reports more subflows than a.Slots, it decodes nothing but the count and
// returns a *MoreSubflowsError so the caller can grow its arrays and ask
// again: no subflow is ever silently missing.
func decodeFullInfo(a fullInfoAnswer, s *Snapshot) error {
	if len(a.Head) < sizeofFullInfoHead || a.OptLen < sizeofFullInfoHead || a.OptLen > len(a.Head) || a.Slots < 0 {
		return fmt.Errorf("%w: MPTCP_FULL_INFO optlen %d for a %d-byte buffer", ErrBadLength, a.OptLen, len(a.Head))
	}
	h := a.Head
	sizeTCP := uint64(binary.NativeEndian.Uint32(h[4:]))
	sizeSf := uint64(binary.NativeEndian.Uint32(h[12:]))
	num := binary.NativeEndian.Uint32(h[16:])
	s.Method = MethodFullInfo
	s.InfoLen = decodeInfo(&s.Info, h[sizeofFullInfoHead:a.OptLen])
	if num > uint32(a.Slots) {
		s.NumSubflows = int(min(num, 1<<16))
		return &MoreSubflowsError{Have: a.Slots, Need: s.NumSubflows}
	}
	n := int(num)
	if n > 0 && (sizeSf < 4 || uint64(n)*sizeSf > uint64(len(a.SubflowInfo)) || uint64(n)*sizeTCP > uint64(len(a.TCPInfo))) {
		return fmt.Errorf("%w: MPTCP_FULL_INFO element sizes %d/%d for %d subflows", ErrBadLength, sizeSf, sizeTCP, n)
	}
	s.NumSubflows = n
	if n > 0 {
		s.TCPInfoLen = int(min(sizeTCP, uint64(unsafe.Sizeof(TCPInfo{}))))
	}
	s.setSubflows(n)
	for i := range s.Subflows {
		sf := &s.Subflows[i]
		e := a.SubflowInfo[uint64(i)*sizeSf : uint64(i+1)*sizeSf]
		sf.ID = binary.NativeEndian.Uint32(e)
		decodeAddrs(sf, e[min(len(e), 8):])
		decodeTCPInfo(&sf.TCPInfo, a.TCPInfo[uint64(i)*sizeTCP:uint64(i+1)*sizeTCP])
	}
	s.dropStandIns()
	return nil
}

// tcpClose is TCP_CLOSE, the tcp_info state of a closed socket.
const tcpClose = 7

// dropStandIns removes the entries of s.Subflows that are not subflows.
//
// Once an MPTCP connection is shut down in both directions, the kernel
// closes its subflows; the first one is not freed but disconnected
// (tcp_disconnect, which clears its peer address and its counters) and
// stays on the connection's list as a stand-in for the socket itself. Both
// MPTCP_FULL_INFO and the split options then list it: state CLOSE, remote
// port 0, a zeroed tcp_info and, in MPTCP_FULL_INFO, id 0 (real subflow ids
// start at 1). Taken for a subflow it would be reported as a new path, and
// the real first subflow as gone with zeroed counters. A real subflow in
// CLOSE state keeps its peer's port, so it stays.
func (s *Snapshot) dropStandIns() {
	kept := s.Subflows[:0]
	for _, sf := range s.Subflows {
		if sf.TCPInfo.State == tcpClose && sf.Remote.Port() == 0 {
			continue
		}
		kept = append(kept, sf)
	}
	s.Subflows = kept
	s.NumSubflows = len(kept)
}

// subflowArray is the decoded header of an MPTCP_TCPINFO or
// MPTCP_SUBFLOW_ADDRS answer: a struct mptcp_subflow_data followed by an
// array.
type subflowArray struct {
	Num    int    // subflows the kernel counted
	Stride int    // element size the kernel used (min of ours and its own)
	Elems  []byte // the elements it copied: min(Num, room) of them
}

// decodeSubflowArray checks an MPTCP_TCPINFO or MPTCP_SUBFLOW_ADDRS answer
// held in b (the whole buffer passed as optval) with the optlen the kernel
// wrote back.
func decodeSubflowArray(b []byte, optLen int) (subflowArray, error) {
	if len(b) < sizeofSubflowData || optLen < sizeofSubflowData || optLen > len(b) {
		return subflowArray{}, fmt.Errorf("%w: subflow array optlen %d for a %d-byte buffer", ErrBadLength, optLen, len(b))
	}
	hdrSize := int(binary.NativeEndian.Uint32(b[0:]))
	num := int(binary.NativeEndian.Uint32(b[4:]))
	stride := int(binary.NativeEndian.Uint32(b[12:]))
	if hdrSize < sizeofSubflowData || hdrSize > optLen || num < 0 || stride < 0 {
		return subflowArray{}, fmt.Errorf("%w: mptcp_subflow_data size %d, %d subflows, stride %d", ErrBadLength, hdrSize, num, stride)
	}
	elems := b[hdrSize:optLen]
	if stride > 0 {
		elems = elems[:min(len(elems)/stride, num)*stride]
	} else {
		elems = elems[:0]
	}
	return subflowArray{Num: num, Stride: stride, Elems: elems}, nil
}

// Count returns how many whole elements the array holds.
func (a subflowArray) Count() int {
	if a.Stride == 0 {
		return 0
	}
	return len(a.Elems) / a.Stride
}

// Elem returns element i.
func (a subflowArray) Elem(i int) []byte { return a.Elems[i*a.Stride : (i+1)*a.Stride] }

// MoreSubflowsError says the kernel reported more subflows than the arrays
// passed in could hold. Reader grows its arrays and asks again, so a Read
// returns it only for a connection with more subflows than a Reader makes
// room for (256; the kernel's in-kernel path manager allows 8).
type MoreSubflowsError struct{ Have, Need int }

func (e *MoreSubflowsError) Error() string {
	return fmt.Sprintf("mptcpinfo: kernel reports %d subflows, room for %d", e.Need, e.Have)
}
