package mibstat

import (
	"fmt"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/mptcpx/mptcpx/internal/netns"
)

// path is the netstat file of the calling thread's network namespace
// (/proc/net is a link to /proc/self/net: the main thread's namespace).
const path = "/proc/thread-self/net/netstat"

// initialBuffer holds the whole file on 6.18 (about 4 KiB with TcpExt and
// IpExt); Read doubles it when the file is larger.
const initialBuffer = 8 << 10

// Reader reads the MPTcpExt counters of one network namespace: the one of
// the thread that opened it. It is safe for concurrent use.
type Reader struct {
	mu     sync.Mutex
	fd     int // -1 once closed
	buf    []byte
	closed bool
}

// Open opens a Reader on the counters of the calling thread's network
// namespace (/proc/thread-self/net/netstat). The kernel binds the open file
// to that namespace (and holds a reference to it until Close): reads from
// any thread afterwards return that namespace's counters. It reads the file
// once, and fails with ErrNoMPTCP (which wraps errors.ErrUnsupported) when
// the kernel has no MPTCP counters.
//
// The calling goroutine should be locked to its thread if the process has
// threads in other namespaces (see netns.Do); otherwise any thread is in
// the process's namespace.
func Open() (*Reader, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("mibstat: open %s: %w", path, err)
	}
	r := &Reader{fd: fd, buf: make([]byte, initialBuffer)}
	var s Snapshot
	if err := r.Read(&s); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// OpenIn opens a Reader on the counters of the network namespace of the
// socket behind rc, on a thread inside that namespace (netns.Do: free when
// it is the caller's own namespace; otherwise entering it needs privilege,
// and the error wraps netns.ErrNotHere). To open other per-namespace
// readers in the same visit, call Open inside netns.Do.
func OpenIn(rc syscall.RawConn) (*Reader, error) {
	var r *Reader
	var oerr error
	if err := netns.Do(rc, func() error {
		r, oerr = Open()
		return nil
	}); err != nil {
		return nil, fmt.Errorf("mibstat: %w", err)
	}
	return r, oerr
}

// Read reads the namespace's counters into s (see Parse). The file is read
// from offset 0 with pread(2), which makes the kernel print it afresh; it
// allocates nothing once s has held a snapshot of this kernel (the buffer
// grows only if the file outgrows it). After Close it returns ErrClosed.
func (r *Reader) Read(s *Snapshot) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	n, err := r.readAll()
	if err != nil {
		s.Reset()
		return err
	}
	return Parse(r.buf[:n], s)
}

// readAll reads the whole file into r.buf, growing it as needed, and
// returns its length.
func (r *Reader) readAll() (int, error) {
	for {
		n := 0
		for n < len(r.buf) {
			m, err := unix.Pread(r.fd, r.buf[n:], int64(n))
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return 0, fmt.Errorf("mibstat: read %s: %w", path, err)
			}
			if m == 0 {
				return n, nil
			}
			n += m
		}
		// Full: the file may be longer. Read it again, whole, into a
		// larger buffer, so that both lines come from one printing.
		if len(r.buf) >= maxBuffer {
			return 0, fmt.Errorf("mibstat: %s is larger than %d bytes", path, maxBuffer)
		}
		r.buf = make([]byte, 2*len(r.buf))
	}
}

// maxBuffer bounds the buffer (netstat is a few KiB; this is far above).
const maxBuffer = 1 << 20

// Close releases the file (and with it the reference the kernel held on
// the namespace). It is idempotent.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	return unix.Close(r.fd)
}
