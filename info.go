package mptcpx

import (
	"errors"
	"net"
	"sync"

	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// Info reads the connection's MPTCP state from the kernel now and returns
// it in a new Snapshot: connection-level counters, whether the connection
// fell back to plain TCP, and every subflow with its id, addresses and
// tcp_info. Snapshot says which fields the running kernel filled in.
//
// Each call queries the kernel (a few getsockopt calls, about a microsecond)
// and allocates. On operating systems other than Linux the error wraps
// mptcpinfo.ErrNotSupported. After Close the error wraps net.ErrClosed.
// Errors are *net.OpError values with Op "mptcpinfo".
func (c *Conn) Info() (*mptcpinfo.Snapshot, error) {
	if c.follower.CloseCalled() {
		return nil, c.infoError(net.ErrClosed)
	}
	rc, err := c.tcpConn.SyscallConn() // a reading, not a use to note
	if err != nil {
		return nil, c.infoError(err)
	}
	// A Reader from the pool: concurrent Info calls share nothing, and its
	// buffers are reused.
	r := readerPool.Get().(*mptcpinfo.Reader)
	defer readerPool.Put(r)
	s := new(mptcpinfo.Snapshot)
	if err := r.Read(rc, s); err != nil {
		if errors.Is(err, net.ErrClosed) {
			// The socket was closed under us: say so plainly rather than
			// nesting the raw-control error.
			err = net.ErrClosed
		}
		return nil, c.infoError(err)
	}
	return s, nil
}

// readerPool holds the Readers of Info.
var readerPool = sync.Pool{New: func() any { return new(mptcpinfo.Reader) }}

func (c *Conn) infoError(err error) error {
	return &net.OpError{Op: "mptcpinfo", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}
