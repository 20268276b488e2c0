package sockdiag

import (
	"encoding/binary"
	"fmt"
	"syscall"
	"unsafe"

	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// Layouts and numbers of the kernel's netlink and inet_diag ABI
// (include/uapi/linux/netlink.h, sock_diag.h and inet_diag.h). Messages and
// attributes are padded to multiples of 4 bytes (NLMSG_ALIGN, NLA_ALIGN);
// integers are in the machine's byte order, ports and addresses big-endian.
const (
	nlmsgHeaderLen = 16 // struct nlmsghdr: len u32, type u16, flags u16, seq u32, pid u32
	nlaHeaderLen   = 4  // struct nlattr: len u16 (header included), type u16
	netlinkAlign   = 4

	nlmsgNoop  = 0x1 // NLMSG_NOOP
	nlmsgError = 0x2 // NLMSG_ERROR: struct nlmsgerr, error first
	nlmsgDone  = 0x3 // NLMSG_DONE: an int, the dump's error (0 or -errno)

	nlmFRequest  = 0x1   // NLM_F_REQUEST
	nlmFDumpIntr = 0x10  // NLM_F_DUMP_INTR
	nlmFDump     = 0x300 // NLM_F_ROOT | NLM_F_MATCH

	sockDiagByFamily = 20 // SOCK_DIAG_BY_FAMILY: request and answer type

	sizeofInetDiagReqV2 = 56 // struct inet_diag_req_v2
	sizeofInetDiagMsg   = 72 // struct inet_diag_msg

	// Offsets in struct inet_diag_msg: family, state, then the socket id
	// (struct inet_diag_sockid at 4) whose idiag_cookie[2] is at 44.
	offFamily = 0
	offState  = 1
	offCookie = 44

	inetDiagInfo        = 2 // INET_DIAG_INFO: the protocol's info struct, here struct mptcp_info
	inetDiagReqProtocol = 3 // INET_DIAG_REQ_PROTOCOL: u32 protocol of a request (5.9+)

	// attrTypeMask strips NLA_F_NESTED and NLA_F_NET_BYTEORDER from nla_type.
	attrTypeMask = 0x3fff
)

// hostOrder is the byte order of netlink headers and of the integers in
// inet_diag messages.
var hostOrder = binary.NativeEndian

// align rounds n up to the netlink alignment.
func align(n int) int { return (n + netlinkAlign - 1) &^ (netlinkAlign - 1) }

// Info is copied byte for byte from the kernel's struct mptcp_info:
// mptcpinfo.Info must be exactly SizeofInfo bytes.
var (
	_ [mptcpinfo.SizeofInfo - unsafe.Sizeof(mptcpinfo.Info{})]byte
	_ [unsafe.Sizeof(mptcpinfo.Info{}) - mptcpinfo.SizeofInfo]byte
)

// setInfo copies the mptcp_info bytes b into dst and zeroes the rest, the
// rule package mptcpinfo applies to getsockopt answers, so that fields the
// kernel did not write read as zero and Socket.Has reports them missing.
// It returns the number of bytes taken.
func setInfo(dst *mptcpinfo.Info, b []byte) int {
	raw := (*[mptcpinfo.SizeofInfo]byte)(unsafe.Pointer(dst))
	n := copy(raw[:], b)
	clear(raw[n:])
	return n
}

// batch is what decodeDatagram found in one datagram besides the sockets
// it delivered.
type batch struct {
	sockets   int           // socket messages delivered to fn
	done      bool          // NLMSG_DONE or NLMSG_ERROR ended the answer
	errno     syscall.Errno // the error the kernel reported in it, 0 if none
	intr      bool          // a message carried NLM_F_DUMP_INTR
	stale     int           // messages of another request (sequence number) skipped
	malformed error         // the first decoding error, wrapping ErrMalformed
}

// decodeDatagram decodes one datagram of the answer to the dump request
// with sequence number seq. For every socket message it fills s and calls
// fn(s). Messages of other sequence numbers (left over from a dump that was
// not read to its end) are skipped, as are message types it does not know
// (NLMSG_NOOP and any future type). NLMSG_DONE and NLMSG_ERROR end the
// answer: what follows them is ignored.
//
// Nothing the kernel wrote is trusted: a message whose header is cut off or
// whose length runs past the datagram ends the walk (the rest cannot be
// framed); a socket message shorter than struct inet_diag_msg or with a
// broken attribute is skipped and the walk goes on. Both are reported in
// batch.malformed. decodeDatagram never panics and does not allocate
// unless it reports an error.
func decodeDatagram(b []byte, seq uint32, s *Socket, fn func(*Socket)) batch {
	var r batch
	for off := 0; off < len(b); {
		rest := b[off:]
		if len(rest) < nlmsgHeaderLen {
			r.malform(fmt.Errorf("%w: %d stray bytes at offset %d, shorter than a netlink header", ErrMalformed, len(rest), off))
			return r
		}
		n := hostOrder.Uint32(rest[0:4])
		if n < nlmsgHeaderLen || n > uint32(len(rest)) {
			r.malform(fmt.Errorf("%w: netlink message at offset %d says %d bytes, %d remain", ErrMalformed, off, n, len(rest)))
			return r
		}
		typ := hostOrder.Uint16(rest[4:6])
		flags := hostOrder.Uint16(rest[6:8])
		payload := rest[nlmsgHeaderLen:n]
		msgOff := off
		off += min(align(int(n)), len(rest))
		if hostOrder.Uint32(rest[8:12]) != seq {
			r.stale++
			continue
		}
		if flags&nlmFDumpIntr != 0 {
			r.intr = true
		}
		switch typ {
		case nlmsgDone:
			// The kernel puts the dump's result in an int: 0, or the
			// negative errno with which the protocol's dump failed
			// (inet_diag reports an unknown protocol here, ENOENT).
			r.done = true
			if len(payload) >= 4 {
				if v := int32(hostOrder.Uint32(payload)); v < 0 {
					r.errno = syscall.Errno(-v)
				}
			}
			return r
		case nlmsgError:
			// struct nlmsgerr: the error (0 for an acknowledgement), then
			// the request's header. A request the kernel refuses before
			// the dump starts (EINVAL, EBUSY while another dump of this
			// socket is running) gets this instead of NLMSG_DONE.
			r.done = true
			if len(payload) < 4 {
				r.malform(fmt.Errorf("%w: NLMSG_ERROR at offset %d with %d bytes of payload", ErrMalformed, msgOff, len(payload)))
				return r
			}
			v := int32(hostOrder.Uint32(payload))
			switch {
			case v < 0:
				r.errno = syscall.Errno(-v)
			case v > 0:
				r.malform(fmt.Errorf("%w: NLMSG_ERROR at offset %d with positive error %d", ErrMalformed, msgOff, v))
			}
			return r
		case sockDiagByFamily:
			if err := decodeSocket(payload, s); err != nil {
				r.malform(fmt.Errorf("%w (message at offset %d)", err, msgOff))
				continue
			}
			r.sockets++
			fn(s)
		}
	}
	return r
}

// malform records err unless an earlier error was recorded.
func (r *batch) malform(err error) {
	if r.malformed == nil {
		r.malformed = err
	}
}

// decodeSocket decodes the payload of one SOCK_DIAG_BY_FAMILY answer: a
// struct inet_diag_msg, then attributes, of which only INET_DIAG_INFO is
// read (the first, should there be several). Every field of s is
// overwritten; on error s holds nothing of value.
func decodeSocket(p []byte, s *Socket) error {
	if len(p) < sizeofInetDiagMsg {
		return fmt.Errorf("%w: socket message of %d bytes, shorter than struct inet_diag_msg", ErrMalformed, len(p))
	}
	s.Family = p[offFamily]
	s.State = p[offState]
	// sock_diag_save_cookie stores the 64-bit cookie as two u32, the low
	// half first.
	s.Cookie = uint64(hostOrder.Uint32(p[offCookie:])) | uint64(hostOrder.Uint32(p[offCookie+4:]))<<32
	var info []byte
	found := false
	for off := sizeofInetDiagMsg; off < len(p); {
		rest := p[off:]
		if len(rest) < nlaHeaderLen {
			return fmt.Errorf("%w: %d stray bytes after the attributes", ErrMalformed, len(rest))
		}
		n := int(hostOrder.Uint16(rest[0:2]))
		if n < nlaHeaderLen || n > len(rest) {
			return fmt.Errorf("%w: attribute at offset %d says %d bytes, %d remain", ErrMalformed, off, n, len(rest))
		}
		if hostOrder.Uint16(rest[2:4])&attrTypeMask == inetDiagInfo && !found {
			info, found = rest[nlaHeaderLen:n], true
		}
		off += align(n)
	}
	s.InfoLen = setInfo(&s.Info, info)
	return nil
}

// answerEnds reports whether the datagram b holds the end (NLMSG_DONE or
// NLMSG_ERROR) of the answer to request seq. It reads only the message
// headers, with the framing rules of decodeDatagram; a datagram that
// cannot be framed to its end does not end the answer.
func answerEnds(b []byte, seq uint32) bool {
	for off := 0; len(b)-off >= nlmsgHeaderLen; {
		rest := b[off:]
		n := hostOrder.Uint32(rest[0:4])
		if n < nlmsgHeaderLen || n > uint32(len(rest)) {
			return false
		}
		if typ := hostOrder.Uint16(rest[4:6]); (typ == nlmsgDone || typ == nlmsgError) && hostOrder.Uint32(rest[8:12]) == seq {
			return true
		}
		off += align(int(n))
	}
	return false
}
