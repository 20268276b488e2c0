//go:build linux

package pmevents

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/mdlayher/genetlink"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Names the kernel registers (MPTCP_PM_NAME in include/uapi/linux/mptcp_pm.h,
// MPTCP_PM_EV_GRP_NAME in include/uapi/linux/mptcp.h).
const (
	familyName = "mptcp_pm"
	groupName  = "mptcp_pm_events"
)

// Batch limits: Receive reads at most maxBatch datagrams per call, into a
// buffer of batchBuffer bytes, and stops early when less than maxDatagram
// bytes are left. An event datagram is about 100 to 150 bytes; the kernel
// builds each in an skb of at most NLMSG_DEFAULT_SIZE (a page, at most
// 8 KiB), so maxDatagram always holds one.
const (
	maxBatch    = 256
	batchBuffer = 64 << 10
	maxDatagram = 8 << 10
)

// Listener receives the MPTCP path-manager events of one network namespace:
// the namespace of the thread that called Open. It is a generic netlink
// socket that has joined the mptcp_pm_events multicast group.
//
// Receive may be called from one goroutine at a time; Close, Stats,
// ReadBuffer, SetReadBuffer and SetReadDeadline from any goroutine.
type Listener struct {
	conn   *genetlink.Conn
	raw    syscall.RawConn
	family uint16 // the generic netlink family id of mptcp_pm

	recvMu    sync.Mutex // held by Receive; guards the batch state below
	buf       []byte     // the batch's datagrams, back to back
	ends      [maxBatch]int
	n         int        // datagrams in buf; datagram i is buf[ends[i-1]:ends[i]]
	lost      bool       // the kernel reported ENOBUFS during the batch
	truncated int        // datagrams larger than the space left, dropped
	errno     unix.Errno // a receive error other than EAGAIN, EINTR, ENOBUFS
	// from and fromLen receive each datagram's sender; they live here so
	// that passing their addresses to recvfrom does not allocate.
	from    unix.RawSockaddrNetlink
	fromLen uint32
	readFn  func(fd uintptr) bool // readBatch, bound once in Open
	ev      Event

	closed                                 atomic.Bool
	events, overflows, malformed, foreigns atomic.Uint64
}

// Open opens a Listener in the calling thread's network namespace: it
// resolves the mptcp_pm generic netlink family, sets the receive buffer to
// DefaultReadBuffer and joins the mptcp_pm_events group. From then on the
// kernel queues every event of that namespace for it.
//
// Errors: ErrUnsupported when the kernel has no such family or group
// (see ErrUnsupported), ErrPermission when the process may not join it.
// Both are expected conditions that a caller can fall back from quietly;
// Open itself prints and logs nothing.
func Open() (*Listener, error) { return open(familyName, groupName, DefaultReadBuffer) }

// Probe reports whether events can be received in the calling thread's
// network namespace: nil when Open would succeed, or the error Open
// returns (ErrUnsupported, ErrPermission, ...). It opens, joins and closes
// a socket each time, about the cost of a few system calls; it caches
// nothing, so the caller decides how long an answer stays true.
func Probe() error {
	l, err := open(familyName, groupName, 0)
	if err != nil {
		return err
	}
	return l.Close()
}

// open is Open for any generic netlink family and group (tests use others
// to see the errors of a kernel without MPTCP), with a receive buffer size
// (0: leave the kernel's default).
func open(family, group string, readBuffer int) (*Listener, error) {
	c, err := genetlink.Dial(nil)
	if err != nil {
		if errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.EAFNOSUPPORT) {
			return nil, fmt.Errorf("%w: no generic netlink: %w", ErrUnsupported, err)
		}
		return nil, fmt.Errorf("pmevents: open a generic netlink socket: %w", err)
	}
	l := &Listener{conn: c, buf: make([]byte, batchBuffer)}
	if err := l.setup(family, group, readBuffer); err != nil {
		c.Close()
		return nil, err
	}
	l.readFn = l.readBatch
	return l, nil
}

// setup resolves the family and its group, sizes the buffer and joins.
func (l *Listener) setup(family, group string, readBuffer int) error {
	fam, err := l.conn.GetFamily(family)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: the kernel has no %s generic netlink family", ErrUnsupported, family)
	}
	if err != nil {
		return fmt.Errorf("pmevents: resolve the %s generic netlink family: %w", family, err)
	}
	groupID := uint32(0)
	for _, g := range fam.Groups {
		if g.Name == group {
			groupID = g.ID
		}
	}
	if groupID == 0 {
		return fmt.Errorf("%w: the %s family has no %s group (added in Linux 5.12)", ErrUnsupported, family, group)
	}
	l.family = fam.ID
	if readBuffer > 0 {
		if err := l.SetReadBuffer(readBuffer); err != nil {
			return err
		}
	}
	if err := l.conn.JoinGroup(groupID); err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return fmt.Errorf("%w: %w", ErrPermission, err)
		}
		return fmt.Errorf("pmevents: join the %s group: %w", group, err)
	}
	raw, err := l.conn.SyscallConn()
	if err != nil {
		return fmt.Errorf("pmevents: %w", err)
	}
	l.raw = raw
	return nil
}

// Receive waits until the kernel has queued at least one event, then reads
// what is queued (up to 256 datagrams) and calls fn once per event, in the
// kernel's order. fn receives the same *Event every time, overwritten for
// each event: copy the value to keep it. fn runs on the calling goroutine
// after the socket has been read, so it may call Close.
//
// Receive returns nil after a batch. It returns an error wrapping ErrLost
// when the kernel reported that events were dropped (the events of the
// batch are still delivered; they may lie on either side of the gap), and
// one wrapping ErrMalformed when messages had to be skipped; both are
// counted in Stats and neither is fatal: call Receive again. After Close it
// returns net.ErrClosed; after a read deadline (SetReadDeadline) an error
// matching os.ErrDeadlineExceeded.
//
// Receiving does not allocate: the datagrams are read with recvfrom(2)
// through the socket's syscall.RawConn into a buffer the Listener owns.
// (mdlayher/genetlink's Conn.Receive, which peeks at each datagram's size,
// allocates a buffer for it and unpacks it into message slices, measured
// 37 allocations per event; TestReceiveAllocs.)
func (l *Listener) Receive(fn func(*Event)) error {
	l.recvMu.Lock()
	defer l.recvMu.Unlock()
	if l.closed.Load() {
		return net.ErrClosed
	}
	l.n, l.lost, l.truncated, l.errno = 0, false, 0, 0
	err := l.raw.Read(l.readFn)
	if err != nil && l.n == 0 {
		if l.closed.Load() {
			return net.ErrClosed
		}
		return fmt.Errorf("pmevents: receive: %w", err)
	}
	malformed := l.dispatch(fn)
	if malformed == nil && l.truncated > 0 {
		malformed = fmt.Errorf("%w: %d datagrams larger than %d bytes skipped", ErrMalformed, l.truncated, maxDatagram)
	}
	if l.lost {
		l.overflows.Add(1)
	}
	if l.errno == 0 && !l.lost && malformed == nil {
		return nil
	}
	var errs [3]error
	if l.errno != 0 {
		errs[0] = fmt.Errorf("pmevents: receive: %w", os.NewSyscallError("recvfrom", l.errno))
	}
	if l.lost {
		errs[1] = ErrLost
	}
	errs[2] = malformed
	return errors.Join(errs[:]...)
}

// readBatch is the RawConn.Read callback: it reads datagrams until the
// queue is empty or the batch is full. It returns false (wait for the
// socket to become readable, then call again) only while nothing at all
// has been read.
func (l *Listener) readBatch(fd uintptr) bool {
	used := 0
	for l.n < maxBatch && len(l.buf)-used >= maxDatagram {
		l.fromLen = unix.SizeofSockaddrNetlink
		// MSG_TRUNC makes recvfrom return the datagram's real length,
		// so that a datagram larger than the space is recognized.
		n, errno := recvfrom(int(fd), l.buf[used:], unix.MSG_DONTWAIT|unix.MSG_TRUNC, &l.from, &l.fromLen)
		switch errno {
		case 0:
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return l.n > 0 || l.lost
		case unix.ENOBUFS:
			// The kernel dropped events and says so once; what is
			// still queued is intact, so keep reading.
			l.lost = true
			continue
		default:
			l.errno = errno
			return true
		}
		switch {
		case n > len(l.buf)-used:
			l.truncated++
			l.malformed.Add(1)
		case l.from.Pid != 0:
			l.foreigns.Add(1)
		case n > 0:
			used += n
			l.ends[l.n] = used
			l.n++
		}
	}
	return true
}

// dispatch decodes the batch's datagrams and calls fn for every event. It
// returns the first decoding error, wrapped, or nil.
func (l *Listener) dispatch(fn func(*Event)) error {
	var first error
	start := 0
	for i := range l.n {
		d := datagram{b: l.buf[start:l.ends[i]]}
		start = l.ends[i]
		for {
			typ, payload, ok, err := d.next()
			if err == nil && !ok {
				break
			}
			if err == nil && typ != l.family {
				continue
			}
			if err == nil {
				err = l.ev.Decode(payload)
			}
			if err != nil {
				l.malformed.Add(1)
				if first == nil {
					first = fmt.Errorf("pmevents: message skipped: %w", err)
				}
				continue
			}
			l.events.Add(1)
			fn(&l.ev)
		}
	}
	return first
}

// recvfrom is recvfrom(2) without the allocations of unix.Recvfrom (which
// returns the sender as a new Sockaddr).
func recvfrom(fd int, p []byte, flags int, from *unix.RawSockaddrNetlink, fromLen *uint32) (int, unix.Errno) {
	r, _, errno := unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)),
		uintptr(flags), uintptr(unsafe.Pointer(from)), uintptr(unsafe.Pointer(fromLen)))
	return int(r), errno
}

// Close closes the socket. A Receive blocked in another goroutine returns
// net.ErrClosed promptly (closing the descriptor wakes the runtime poller
// that it waits in). Close is idempotent.
func (l *Listener) Close() error {
	if l.closed.Swap(true) {
		return nil
	}
	return l.conn.Close()
}

// Stats returns the Listener's counters.
func (l *Listener) Stats() Stats {
	return Stats{
		Events:    l.events.Load(),
		Overflows: l.overflows.Load(),
		Malformed: l.malformed.Load(),
		Foreign:   l.foreigns.Load(),
	}
}

// SetReadBuffer sets the socket's receive buffer (SO_RCVBUFFORCE when
// permitted, else SO_RCVBUF, which the kernel caps at net.core.rmem_max).
// The kernel doubles the value and enforces a minimum of a few KiB; tests
// shrink it to provoke ErrLost.
func (l *Listener) SetReadBuffer(bytes int) error {
	if err := l.conn.SetReadBuffer(bytes); err != nil {
		return fmt.Errorf("pmevents: set the receive buffer to %d bytes: %w", bytes, err)
	}
	return nil
}

// ReadBuffer returns the receive buffer size the kernel applies
// (SO_RCVBUF as read back: twice what was set).
func (l *Listener) ReadBuffer() (int, error) {
	var size int
	var serr error
	err := l.raw.Control(func(fd uintptr) {
		size, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return 0, fmt.Errorf("pmevents: read SO_RCVBUF: %w", err)
	}
	return size, nil
}

// SetKinds has the kernel drop every event whose kind is not among kinds
// before it reaches the socket: a classic BPF socket filter
// (SO_ATTACH_FILTER), which netlink runs for each listener of a multicast
// group before queueing the message. A dropped event takes no room in the
// receive buffer, wakes no reader and is not counted in Stats. With no
// kinds, the filter is removed and every event is received again.
//
// The kernel builds an event once for all its listeners (and only when
// there is one): what a listener that needs a few kinds saves is the
// wake-up and the read of each of the others, such as the Created,
// Established and Closed events of every connection of the namespace.
// Messages of other families (none is expected) are let through.
func (l *Listener) SetKinds(kinds ...Kind) error {
	if len(kinds) == 0 {
		if err := l.conn.RemoveBPF(); err != nil && !errors.Is(err, unix.ENOENT) { // ENOENT: none attached
			return fmt.Errorf("pmevents: remove the socket filter: %w", err)
		}
		return nil
	}
	prog, err := kindFilter(l.family, kinds)
	if err == nil {
		err = l.conn.SetBPF(prog)
	}
	if err != nil {
		return fmt.Errorf("pmevents: attach a socket filter for %v: %w", kinds, err)
	}
	return nil
}

// kindFilter assembles SetKinds' filter. A generic netlink message is a
// 16-byte nlmsghdr, whose nlmsg_type (at 4, the family id, in the host's
// byte order) says the family, then the genlmsghdr, whose first byte (at
// 16) is the command: the event's kind. Loads in classic BPF read the
// network's byte order, so the family id is compared swapped on a
// little-endian host.
func kindFilter(family uint16, kinds []Kind) ([]bpf.RawInstruction, error) {
	if len(kinds) > 250 {
		return nil, fmt.Errorf("%d kinds: too many", len(kinds))
	}
	var typ [2]byte
	binary.NativeEndian.PutUint16(typ[:], family)
	n := uint8(len(kinds))
	prog := []bpf.Instruction{
		bpf.LoadAbsolute{Off: 4, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(binary.BigEndian.Uint16(typ[:])), SkipTrue: n + 2},
		bpf.LoadAbsolute{Off: 16, Size: 1},
	}
	for i, k := range kinds {
		// Each match jumps over the remaining tests and the drop.
		prog = append(prog, bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(k), SkipTrue: n - uint8(i)})
	}
	prog = append(prog,
		bpf.RetConstant{Val: 0},          // drop
		bpf.RetConstant{Val: 0xffffffff}, // keep, whole
	)
	return bpf.Assemble(prog)
}

// SetReadDeadline sets a deadline for Receive, as net.Conn does; the zero
// time removes it.
func (l *Listener) SetReadDeadline(t time.Time) error { return l.conn.SetReadDeadline(t) }
