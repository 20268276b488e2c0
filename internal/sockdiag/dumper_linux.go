//go:build linux

package sockdiag

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mptcpx/mptcpx/internal/netns"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// bufferSize is the receive buffer of a Dumper. The kernel fills each
// datagram of a dump to the size of the largest read the socket has seen,
// capped a little under 32 KiB (netlink_recvmsg records the length and
// netlink_dump allocates that much, SKB_WITH_OVERHEAD(32768)), so one
// 32 KiB buffer takes any datagram, about 140 MPTCP sockets at a time.
const bufferSize = 32 << 10

// receiveTimeout bounds each read. The kernel builds the next datagram of a
// dump inside the read that takes the previous one, so a read never waits
// for data; the timeout only keeps a broken kernel from blocking the caller
// forever.
const receiveTimeout = 5 // seconds

// allStates selects every TCP state but LISTEN (10) in idiag_states: see
// the package documentation for why a followed connection may be in any of
// them, and why listeners are left out.
const allStates = 0xffff &^ (1 << 10)

// Dumper dumps the MPTCP sockets of one network namespace: the namespace
// it was opened in. It is a NETLINK_SOCK_DIAG socket and one receive
// buffer, reused by every dump.
//
// Open or OpenIn makes a Dumper; the zero value only reports an error. Its
// methods may be called from any goroutine; they are serialised (a Dump in
// progress makes Close wait until it ends). The callback given to Dump
// must not call the Dumper's own methods.
type Dumper struct {
	mu sync.Mutex
	fd int // -1 once closed
	// seq numbers the requests; pending is the sequence number of a dump
	// whose answer was not read to its end (0 when there is none): the
	// kernel refuses a new dump on the socket until that one is drained.
	seq, pending uint32
	buf          []byte
	req          [nlmsgHeaderLen + sizeofInetDiagReqV2 + nlaHeaderLen + 4]byte
	sock         Socket
}

// errZeroDumper is returned by a Dumper that Open or OpenIn did not make.
var errZeroDumper = errors.New("sockdiag: a Dumper must be made by Open or OpenIn")

// Open opens a Dumper in the network namespace of the calling OS thread: a
// program that has not moved a thread into another namespace (setns, with
// runtime.LockOSThread) gets its own. Opening needs no privilege.
//
// Open asks the kernel for an empty dump once, so that a kernel that cannot
// dump MPTCP sockets is told at once: the error then wraps ErrUnsupported.
func Open() (*Dumper, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		if errors.Is(err, unix.EAFNOSUPPORT) || errors.Is(err, unix.EPROTONOSUPPORT) {
			return nil, fmt.Errorf("%w: no NETLINK_SOCK_DIAG: %w", ErrUnsupported, err)
		}
		return nil, fmt.Errorf("sockdiag: open a NETLINK_SOCK_DIAG socket: %w", os.NewSyscallError("socket", err))
	}
	tv := unix.Timeval{Sec: receiveTimeout}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("sockdiag: set SO_RCVTIMEO: %w", os.NewSyscallError("setsockopt", err))
	}
	d := &Dumper{fd: fd, buf: make([]byte, bufferSize)}
	// The probe selects no state: the kernel walks its table and answers
	// with NLMSG_DONE alone, or with the error that says it has no MPTCP
	// dump.
	if _, err := d.dump(unix.AF_INET, 0, func(*Socket) {}); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return d, nil
}

// OpenIn opens a Dumper in the network namespace of the socket behind rc
// (netns.Do): when that is the namespace of the calling thread, this is
// Open, without privilege; otherwise the namespace is entered for the time
// of the open, which needs privilege there. The Dumper keeps dumping the
// namespace it was opened in.
func OpenIn(rc syscall.RawConn) (*Dumper, error) {
	if rc == nil {
		return nil, errors.New("sockdiag: OpenIn: nil syscall.RawConn")
	}
	var d *Dumper
	err := netns.Do(rc, func() (err error) {
		d, err = Open()
		return err
	})
	return d, err
}

// Dump asks the kernel for the MPTCP sockets of the Dumper's network
// namespace, IPv4 and IPv6 (one request each: see the package
// documentation), and calls fn once per socket, in the kernel's order,
// with the same *Socket overwritten each time. It returns how many sockets
// it delivered.
//
// Every MPTCP socket that has a connection (state SYN_SENT to CLOSE, with
// an MPTCP token) is listed; listeners and sockets that never connected are
// not. The dump is not a snapshot: a socket created or closed while it runs
// may or may not be listed, and one next to it in the kernel's table can be
// skipped or listed twice (see the package documentation). A socket missing
// from a dump is therefore not proof that it closed.
//
// On error, the sockets delivered before it were real. An error wrapping
// ErrMalformed means some messages could not be decoded (the others were
// delivered); ErrInterrupted that the kernel flagged the dump as
// inconsistent. In steady state Dump allocates nothing.
func (d *Dumper) Dump(fn func(*Socket)) (int, error) {
	n4, err := d.DumpFamily(unix.AF_INET, fn)
	if err != nil {
		return n4, err
	}
	n6, err := d.DumpFamily(unix.AF_INET6, fn)
	return n4 + n6, err
}

// DumpFamily is Dump for the sockets of one address family, AF_INET or
// AF_INET6: one request, half the fixed cost of Dump, for a caller that
// knows the families of the sockets it looks for (SO_DOMAIN).
func (d *Dumper) DumpFamily(family int, fn func(*Socket)) (int, error) {
	if family != unix.AF_INET && family != unix.AF_INET6 {
		return 0, fmt.Errorf("sockdiag: address family %d is neither AF_INET nor AF_INET6", family)
	}
	return d.dump(family, allStates, fn)
}

// dump runs one request and reads its answer to the end.
func (d *Dumper) dump(family int, states uint32, fn func(*Socket)) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.buf == nil {
		return 0, errZeroDumper
	}
	if d.fd < 0 {
		return 0, fmt.Errorf("sockdiag: dump: %w", os.ErrClosed)
	}
	if d.pending != 0 {
		if err := d.drain(); err != nil {
			return 0, err
		}
	}
	d.seq++
	if d.seq == 0 {
		d.seq = 1
	}
	d.buildRequest(family, states)
	if err := d.send(); err != nil {
		return 0, err
	}
	d.pending = d.seq
	sockets := 0
	var malformed error
	intr := false
	for {
		n, err := d.receive()
		if err != nil {
			return sockets, err
		}
		if answerEnds(d.buf[:n], d.seq) {
			// Known before fn runs, so that a callback that panics
			// leaves no dump pending that the kernel already ended.
			d.pending = 0
		}
		r := decodeDatagram(d.buf[:n], d.seq, &d.sock, fn)
		sockets += r.sockets
		intr = intr || r.intr
		if malformed == nil {
			malformed = r.malformed
		}
		if r.done {
			switch {
			case r.errno == unix.ENOENT:
				// inet_diag found no handler for IPPROTO_MPTCP: no
				// mptcp_diag (and the module could not be loaded), or
				// no MPTCP at all.
				return sockets, fmt.Errorf("%w: %w", ErrUnsupported, os.NewSyscallError("sock_diag", r.errno))
			case r.errno != 0:
				return sockets, fmt.Errorf("sockdiag: dump: %w", os.NewSyscallError("sock_diag", r.errno))
			case malformed != nil:
				return sockets, malformed
			case intr:
				return sockets, ErrInterrupted
			}
			return sockets, nil
		}
	}
}

// drain reads what is left of an earlier dump's answer (a callback that
// panicked, a read that failed) until its end.
func (d *Dumper) drain() error {
	for d.pending != 0 {
		n, err := d.receive()
		if err != nil {
			return err
		}
		if answerEnds(d.buf[:n], d.pending) {
			d.pending = 0
		}
	}
	return nil
}

// buildRequest writes the dump request for family into d.req: a netlink
// header, struct inet_diag_req_v2 and the INET_DIAG_REQ_PROTOCOL
// attribute.
//
// sdiag_protocol is one byte and IPPROTO_MPTCP is 262, so the protocol goes
// in INET_DIAG_REQ_PROTOCOL (Linux 5.9+), which takes precedence over
// sdiag_protocol. sdiag_protocol is left 0, a protocol no inet_diag handler
// serves: a kernel that ignores the attribute answers ENOENT rather than
// dump TCP sockets (262 & 0xff is IPPROTO_TCP) whose tcp_info would be
// taken for mptcp_info.
func (d *Dumper) buildRequest(family int, states uint32) {
	b := d.req[:]
	clear(b)
	hostOrder.PutUint32(b[0:], uint32(len(b)))
	hostOrder.PutUint16(b[4:], sockDiagByFamily)
	hostOrder.PutUint16(b[6:], nlmFRequest|nlmFDump)
	hostOrder.PutUint32(b[8:], d.seq)
	r := b[nlmsgHeaderLen:]
	r[0] = byte(family)
	r[1] = 0                           // sdiag_protocol: see above
	r[2] = 1 << (inetDiagInfo - 1)     // idiag_ext: ask for INET_DIAG_INFO
	hostOrder.PutUint32(r[4:], states) // idiag_states
	a := r[sizeofInetDiagReqV2:]       // the socket id stays zero: no filter
	hostOrder.PutUint16(a[0:], nlaHeaderLen+4)
	hostOrder.PutUint16(a[2:], inetDiagReqProtocol)
	hostOrder.PutUint32(a[4:], mptcpinfo.IPPROTO_MPTCP)
}

// send writes the request to the kernel (a netlink socket with no
// destination set sends to the kernel).
func (d *Dumper) send() error {
	for {
		_, err := unix.Write(d.fd, d.req[:])
		switch err {
		case nil:
			return nil
		case unix.EINTR:
			continue
		}
		return fmt.Errorf("sockdiag: send the dump request: %w", os.NewSyscallError("write", err))
	}
}

// receive reads one datagram into d.buf and returns its length. MSG_TRUNC
// makes the kernel return the datagram's real length, so that one larger
// than the buffer is recognised (and reported) rather than decoded cut
// off; the buffer then grows for the next dump.
func (d *Dumper) receive() (int, error) {
	for {
		r, _, errno := unix.Syscall6(unix.SYS_RECVFROM, uintptr(d.fd), uintptr(unsafe.Pointer(&d.buf[0])), uintptr(len(d.buf)),
			unix.MSG_TRUNC, 0, 0)
		switch errno {
		case 0:
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, fmt.Errorf("sockdiag: the kernel sent nothing for %d s in the middle of a dump: %w", receiveTimeout, os.NewSyscallError("recvfrom", errno))
		default:
			return 0, fmt.Errorf("sockdiag: receive: %w", os.NewSyscallError("recvfrom", errno))
		}
		n := int(r)
		if n > len(d.buf) {
			// The datagram's tail is lost: the answer cannot be
			// trusted any more; read the rest away next time.
			d.buf = make([]byte, align(n))
			return 0, fmt.Errorf("%w: a %d-byte datagram did not fit the receive buffer", ErrMalformed, n)
		}
		return n, nil
	}
}

// Close closes the Dumper's socket. It waits for a Dump in progress to end.
// Close is idempotent.
func (d *Dumper) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.buf == nil || d.fd < 0 {
		return nil
	}
	err := unix.Close(d.fd)
	d.fd = -1
	if err != nil {
		return fmt.Errorf("sockdiag: close: %w", os.NewSyscallError("close", err))
	}
	return nil
}

// Cookie returns the socket cookie of the socket behind rc
// (getsockopt(SO_COOKIE), Linux 4.12+): the value a dump reports as
// Socket.Cookie for the same socket. For an MPTCP socket it is the cookie
// of the MPTCP-level socket, which the dump lists, not of a subflow.
func Cookie(rc syscall.RawConn) (uint64, error) {
	if rc == nil {
		return 0, errors.New("sockdiag: Cookie: nil syscall.RawConn")
	}
	var v uint64
	var serr error
	if err := rc.Control(func(fd uintptr) {
		v, serr = unix.GetsockoptUint64(int(fd), unix.SOL_SOCKET, unix.SO_COOKIE)
	}); err != nil {
		return 0, fmt.Errorf("sockdiag: Cookie: %w", err)
	}
	if serr != nil {
		return 0, fmt.Errorf("sockdiag: Cookie: %w", os.NewSyscallError("getsockopt SO_COOKIE", serr))
	}
	return v, nil
}
