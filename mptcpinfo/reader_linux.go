package mptcpinfo

import (
	"bytes"
	"errors"
	"os"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Reader reads the MPTCP state of sockets into caller-owned Snapshots. It
// owns the buffers the kernel writes into and reuses them, so that in steady
// state a Read allocates nothing. The zero Reader is ready to use. A Reader
// is not safe for concurrent use: give each goroutine its own.
//
// A Reader must not be copied after first use (go vet reports copies). A
// copy made anyway is safe: on its first Read it notices that it is not the
// Reader it was made from, drops the buffers it shares with the original and
// maps its own, so two copies never have the kernel write into the same
// memory.
type Reader struct {
	_ noCopy

	// self is the Reader that owns the buffers below and that control is
	// bound to; a copy has the original's address here.
	self *Reader

	// Method, when not MethodNone, chooses the rung of the kernel ladder
	// instead of the one probed for this kernel: MethodSplit on a 6.5+
	// kernel reads what a 5.16 kernel would give. Choose only rungs the
	// running kernel has: a missing one answers like a fallback.
	Method Method

	// full holds the mptcp_full_info header followed by the
	// mptcp_subflow_info array and the tcp_info array, fullSlots elements
	// each (every part 8-byte aligned). The header carries raw addresses
	// of the arrays, so full is memory the garbage collector never moves:
	// see fixedMem.
	full      *fixedMem
	fullSlots int

	// Buffers of the split rung: MPTCP_INFO, MPTCP_TCPINFO and
	// MPTCP_SUBFLOW_ADDRS read twice.
	info       [SizeofInfo / 8]uint64
	tcp        []uint64
	addrs      [2][]uint64
	splitSlots int

	// optlen lives here, not on the stack, so passing its address to the
	// kernel never makes it escape.
	optlen uint32

	// Read's callback for RawConn.Control, bound once to avoid allocating a
	// closure per call, and its arguments and result.
	control  func(fd uintptr)
	target   *Snapshot
	err      error
	infoOnly bool // ReadInfo rather than Read
}

const (
	sizeofTCPInfo = int(unsafe.Sizeof(TCPInfo{}))
	// firstSlots is the room a new Reader makes for subflows: loopback and
	// the common two-path cases need no second call.
	firstSlots = 4
	// maxAttempts bounds the re-reads when subflows come and go between the
	// kernel's answers.
	maxAttempts = 4
	// maxSlots bounds the room a Reader makes for subflows, whatever count
	// the kernel writes back. The in-kernel path manager allows at most 8
	// subflows per connection (MPTCP_PM_ADDR_MAX); a larger count is
	// reported as a *MoreSubflowsError rather than followed.
	maxSlots = 256
)

var errNilConn = errors.New("mptcpinfo: nil syscall.RawConn")

// Read samples the socket behind rc (from SyscallConn) into s, replacing its
// contents. The socket's descriptor stays valid for the whole call: Read goes
// through rc.Control, so a concurrent Close waits, and a closed connection
// gives the error Control returns.
func (r *Reader) Read(rc syscall.RawConn, s *Snapshot) error {
	if rc == nil {
		return errNilConn
	}
	r.own()
	r.target, r.err = s, nil
	err := rc.Control(r.control)
	r.target = nil
	if err != nil {
		return err
	}
	return r.err
}

// ReadInfo reads only the connection-level state of the socket behind rc,
// its mptcp_info, into s: one getsockopt(MPTCP_INFO), which costs about
// half of what Read costs, with no subflow in the answer (s.Method is
// MethodInfo, s.Subflows is empty). It is the cheap way to tell whether
// anything moved since a full reading: the byte counters, sequence numbers
// and subflow counts of mptcp_info change with every byte and every
// subflow. Fallback and plain TCP are reported as Read reports them. On
// kernels before 5.16, which answer no SOL_MPTCP option, it reads what Read
// reads.
func (r *Reader) ReadInfo(rc syscall.RawConn, s *Snapshot) error {
	r.infoOnly = true
	err := r.Read(rc, s)
	r.infoOnly = false
	return err
}

func (r *Reader) controlFD(fd uintptr) { r.err = r.ReadFD(int(fd), r.target) }

// own makes r the owner of its buffers and of its Control callback. A zero
// Reader binds the callback once; a copy of a used Reader still points at
// the original's callback and buffers, and lets go of them: it maps its own
// on the next read rather than share memory the kernel writes into.
func (r *Reader) own() {
	if r.self == r {
		return
	}
	if r.self != nil {
		r.full, r.fullSlots = nil, 0
		r.tcp, r.addrs, r.splitSlots = nil, [2][]uint64{}, 0
	}
	r.self = r
	r.control = r.controlFD
}

// ReadFD samples the socket with descriptor fd into s. The caller keeps fd
// open for the duration of the call.
//
// A socket that is plain TCP gives a nil error and a Snapshot with MPTCP
// false: Fallback true when it was opened as MPTCP (the peer did not
// negotiate MPTCP, or the connection fell back later), false when it never
// asked for MPTCP.
func (r *Reader) ReadFD(fd int, s *Snapshot) error {
	r.own()
	s.reset()
	m := r.Method
	if m == MethodNone {
		m = KernelMethod()
	}
	var err error
	switch {
	case m == MethodProtocol:
		return r.readProtocol(fd, s)
	case r.infoOnly || m == MethodInfo:
		err = r.readInfo(fd, s)
	case m == MethodFullInfo:
		err = r.readFull(fd, s)
	case m == MethodSplit:
		err = r.readSplit(fd, s)
	default:
		return r.readProtocol(fd, s)
	}
	if err == nil {
		// SOL_MPTCP answered: the socket is MPTCP. The kernel passes
		// SOL_MPTCP calls on a fallen-back socket through to its TCP
		// subflow, which rejects them, so the flag is rarely seen here;
		// it is honoured when it is.
		s.Protocol = IPPROTO_MPTCP
		s.Fallback = s.Info.Flags&FlagFallback != 0
		s.MPTCP = !s.Fallback
		return nil
	}
	if err == unix.EOPNOTSUPP || err == unix.ENOPROTOOPT {
		// Since 5.16 this is how the kernel says "plain TCP": EOPNOTSUPP
		// from an IPv4 socket, ENOPROTOOPT from an IPv6 one. SO_PROTOCOL
		// tells a fallback (opened as MPTCP) from a socket that never
		// asked for MPTCP.
		s.reset()
		if err := r.readProtocol(fd, s); err != nil {
			return err
		}
		s.Method = m
		s.MPTCP = false
		if s.Protocol == IPPROTO_MPTCP {
			// An MPTCP socket that refuses SOL_MPTCP fell back to TCP,
			// or was reset: the kernel also refuses once a reset has
			// torn the connection down. Its own tcp_info tells them
			// apart: a reset one is CLOSE, a fallen-back one is not.
			s.State, s.Retransmits = r.socketState(fd)
			s.Fallback = s.State != tcpClose
		}
		return nil
	}
	if errno, ok := err.(unix.Errno); ok {
		return os.NewSyscallError("getsockopt", errno)
	}
	return err
}

// socketState returns the TCP state of the socket itself (tcp_info.state
// through SOL_TCP/TCP_INFO, which an MPTCP socket answers too) and its
// total_retrans, 0 when they cannot be read.
func (r *Reader) socketState(fd int) (state uint8, retransmits uint32) {
	var ti TCPInfo
	r.optlen = uint32(sizeofTCPInfo)
	if getsockopt(fd, unix.SOL_TCP, unix.TCP_INFO, unsafe.Pointer(&ti), &r.optlen) != 0 || r.optlen == 0 {
		return 0, 0
	}
	if r.optlen < uint32(unsafe.Offsetof(ti.TotalRetrans))+4 {
		return ti.State, 0
	}
	return ti.State, ti.TotalRetrans
}

// readProtocol is the rung for kernels before 5.16: SO_PROTOCOL says whether
// the socket was opened as MPTCP. On those kernels a socket opened as MPTCP
// that fell back cannot be told apart, so MPTCP means "opened as MPTCP".
func (r *Reader) readProtocol(fd int, s *Snapshot) error {
	var proto int32
	r.optlen = 4
	if e := getsockopt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL, unsafe.Pointer(&proto), &r.optlen); e != 0 {
		return os.NewSyscallError("getsockopt", e)
	}
	s.Method = MethodProtocol
	s.Protocol = int(proto)
	s.MPTCP = proto == IPPROTO_MPTCP
	return nil
}

// readFull is the rung for 6.5 and later: one MPTCP_FULL_INFO call returns
// mptcp_info and, for every subflow, its id, addresses and tcp_info. The
// kernel takes the MPTCP socket lock once for the whole answer, so the two
// arrays describe the same subflows in the same order.
func (r *Reader) readFull(fd int, s *Snapshot) error {
	if r.full == nil {
		if err := r.growFull(firstSlots); err != nil {
			return err
		}
	}
	for attempt := 1; ; attempt++ {
		b := r.full.b
		head := b[:sizeofFullInfo]
		sfArr := b[sizeofFullInfo : sizeofFullInfo+r.fullSlots*sizeofSubflowInfo]
		tcpArr := b[sizeofFullInfo+r.fullSlots*sizeofSubflowInfo:]
		hdr := (*fullInfo)(unsafe.Pointer(&b[0]))
		*hdr = fullInfo{
			SizeTCPInfoUser: uint32(sizeofTCPInfo),
			SizeSfInfoUser:  sizeofSubflowInfo,
			SizeArraysUser:  uint32(r.fullSlots),
		}
		if r.fullSlots > 0 {
			hdr.SubflowInfo = uint64(uintptr(unsafe.Pointer(&sfArr[0])))
			hdr.TCPInfo = uint64(uintptr(unsafe.Pointer(&tcpArr[0])))
		}
		r.optlen = sizeofFullInfo
		// The header holds raw addresses into r.full, memory that cannot
		// move; keep it mapped until the kernel is done writing.
		e := getsockopt(fd, SOL_MPTCP, MPTCP_FULL_INFO, unsafe.Pointer(hdr), &r.optlen)
		runtime.KeepAlive(r.full)
		if e != 0 {
			return e
		}
		err := decodeFullInfo(fullInfoAnswer{Head: head, OptLen: int(r.optlen), Slots: r.fullSlots, SubflowInfo: sfArr, TCPInfo: tcpArr}, s)
		if more, ok := err.(*MoreSubflowsError); ok && attempt < maxAttempts {
			if more.Need > maxSlots {
				return err
			}
			if err := r.growFull(more.Need + 1); err != nil {
				return err
			}
			continue
		}
		return err
	}
}

func (r *Reader) growFull(slots int) error {
	m, err := newFixedMem(sizeofFullInfo + slots*(sizeofSubflowInfo+sizeofTCPInfo))
	if err != nil {
		return os.NewSyscallError("mmap", err)
	}
	r.full, r.fullSlots = m, slots
	return nil
}

// readInfo reads mptcp_info alone (ReadInfo).
func (r *Reader) readInfo(fd int, s *Snapshot) error {
	r.optlen = SizeofInfo
	if e := getsockopt(fd, SOL_MPTCP, MPTCP_INFO, unsafe.Pointer(&r.info[0]), &r.optlen); e != 0 {
		return e
	}
	s.Method = MethodInfo
	s.InfoLen = decodeInfo(&s.Info, unsafe.Slice((*byte)(unsafe.Pointer(&r.info[0])), min(int(r.optlen), SizeofInfo)))
	return nil
}

// readSplit is the rung for 5.16 to 6.4, where MPTCP_FULL_INFO does not
// exist: MPTCP_INFO for the connection, MPTCP_SUBFLOW_ADDRS for the
// addresses and MPTCP_TCPINFO for the subflows' tcp_info, three calls that
// each take the socket lock on their own. Neither array carries subflow ids,
// so they are matched by position, which is safe for this reason: both
// options walk the connection's subflow list (msk->conn_list) in list order
// under the socket lock, a joining subflow is appended at the tail and a
// closing one is unlinked in place. The order of two answers therefore
// differs only if a subflow joined or left between them. The addresses are
// read before and after the tcp_info, and the answer is accepted only when
// both address lists are byte-identical (same count, same four-tuples in the
// same order); otherwise all three are read again.
func (r *Reader) readSplit(fd int, s *Snapshot) error {
	r.optlen = SizeofInfo
	if e := getsockopt(fd, SOL_MPTCP, MPTCP_INFO, unsafe.Pointer(&r.info[0]), &r.optlen); e != 0 {
		return e
	}
	infoBytes := unsafe.Slice((*byte)(unsafe.Pointer(&r.info[0])), min(int(r.optlen), SizeofInfo))
	if r.tcp == nil {
		r.growSplit(firstSlots)
	}
	for attempt := 1; ; attempt++ {
		before, err := r.readArray(fd, MPTCP_SUBFLOW_ADDRS, 0)
		if err != nil {
			return err
		}
		tcp, err := r.readArray(fd, MPTCP_TCPINFO, 0)
		if err != nil {
			return err
		}
		after, err := r.readArray(fd, MPTCP_SUBFLOW_ADDRS, 1)
		if err != nil {
			return err
		}
		need := max(before.Num, tcp.Num, after.Num)
		complete := before.Count() == before.Num && tcp.Count() == tcp.Num && after.Count() == after.Num
		same := before.Num == tcp.Num && tcp.Num == after.Num && bytes.Equal(before.Elems, after.Elems)
		if !complete || !same {
			if need > maxSlots {
				return &MoreSubflowsError{Have: r.splitSlots, Need: need}
			}
			if attempt >= maxAttempts {
				return errSubflowsChanging
			}
			if need > r.splitSlots {
				r.growSplit(need + 1)
			}
			continue
		}
		s.Method = MethodSplit
		s.InfoLen = decodeInfo(&s.Info, infoBytes)
		s.NumSubflows = after.Num
		if after.Num > 0 {
			s.TCPInfoLen = min(tcp.Stride, sizeofTCPInfo)
		}
		s.setSubflows(after.Num)
		for i := range s.Subflows {
			sf := &s.Subflows[i]
			sf.ID = 0
			decodeAddrs(sf, after.Elem(i))
			decodeTCPInfo(&sf.TCPInfo, tcp.Elem(i))
		}
		s.dropStandIns()
		return nil
	}
}

var errSubflowsChanging = errors.New("mptcpinfo: subflows kept changing between MPTCP_SUBFLOW_ADDRS and MPTCP_TCPINFO")

// readArray reads MPTCP_SUBFLOW_ADDRS (into addrs[which]) or MPTCP_TCPINFO.
func (r *Reader) readArray(fd int, opt int, which int) (subflowArray, error) {
	buf, elem := r.tcp, sizeofTCPInfo
	if opt == MPTCP_SUBFLOW_ADDRS {
		buf, elem = r.addrs[which], sizeofSubflowAddrs
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), len(buf)*8)
	clear(b[:sizeofSubflowData])
	hdr := (*subflowData)(unsafe.Pointer(&buf[0]))
	hdr.SizeSubflowData = sizeofSubflowData
	hdr.SizeUser = uint32(elem)
	r.optlen = uint32(sizeofSubflowData + r.splitSlots*elem)
	if e := getsockopt(fd, SOL_MPTCP, opt, unsafe.Pointer(hdr), &r.optlen); e != 0 {
		return subflowArray{}, e
	}
	return decodeSubflowArray(b, int(r.optlen))
}

func (r *Reader) growSplit(slots int) {
	r.splitSlots = slots
	r.tcp = make([]uint64, (sizeofSubflowData+slots*sizeofTCPInfo+7)/8)
	for i := range r.addrs {
		r.addrs[i] = make([]uint64, (sizeofSubflowData+slots*sizeofSubflowAddrs+7)/8)
	}
}

// getsockopt is the bare system call: no allocation, the raw errno.
func getsockopt(fd, level, opt int, val unsafe.Pointer, optlen *uint32) unix.Errno {
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt), uintptr(val), uintptr(unsafe.Pointer(optlen)), 0)
	return e
}
