package mptcpx

import (
	"go.opentelemetry.io/otel/trace"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// tcpConn names net.TCPConn so that Conn can embed it in an unexported
// field: every method of *net.TCPConn is promoted to *Conn, and the field
// itself stays private.
type tcpConn = net.TCPConn

// Conn is a TCP connection opened by a Dialer or accepted by a Listener of
// this package: Multipath TCP when both ends and the kernel agree, plain TCP
// otherwise (MultipathTCP reports which).
//
// Conn has every method of *net.TCPConn, promoted unchanged from the
// connection it wraps: Read, Write, SetDeadline, SetReadDeadline,
// SetWriteDeadline, LocalAddr, RemoteAddr, CloseRead, CloseWrite,
// SetKeepAlive, SetKeepAlivePeriod, SetKeepAliveConfig, SetLinger,
// SetNoDelay, SetReadBuffer, SetWriteBuffer, SyscallConn, File, WriteTo and
// MultipathTCP. Read and Write are the inner connection's own methods: no
// wrapper code runs on the data path.
//
// Conn changes only Close (idempotent, takes a last sample first) and
// ReadFrom (so that io.Copy between Conns still uses splice), and adds
// NetConn and Info.
type Conn struct {
	*tcpConn

	tracker *connTracker

	closed    atomic.Bool // set when Close starts
	closeOnce sync.Once
}

func newConn(c *net.TCPConn) *Conn {
	return &Conn{tcpConn: c}
}

// NetConn returns the underlying connection, as crypto/tls.Conn.NetConn
// does. Data read from or written to it bypasses nothing: Conn has no
// buffers. Closing it directly skips the last sample that Close takes.
func (c *Conn) NetConn() net.Conn { return c.tcpConn }

// Close closes the connection. The first call takes a last sample of the
// MPTCP state (so the final counters are known) and then closes the socket,
// returning its error; concurrent callers wait for it. Later calls return
// the error the closed *net.TCPConn returns (wrapping net.ErrClosed).
//
// Close is safe to call while other goroutines are in Read, Write or Info:
// they return with an error wrapping net.ErrClosed, and the socket is
// released only once none of them uses it any more.
func (c *Conn) Close() error {
	var err error
	first := false
	c.closeOnce.Do(func() {
		first = true
		c.closed.Store(true)
		c.tracker.closing(c)
		err = c.tcpConn.Close()
	})
	if !first {
		return c.tcpConn.Close()
	}
	return err
}

// ReadFrom implements io.ReaderFrom: it copies from r until EOF with the
// inner *net.TCPConn's ReadFrom, which uses splice(2) when r is a TCP or
// Unix stream connection and sendfile(2) when r is a file.
//
// The net package recognises only its own types as splice sources, so a
// *Conn source, bare or inside an *io.LimitedReader, is replaced here by the
// *net.TCPConn it wraps: io.Copy from one Conn to another moves the bytes
// inside the kernel, without a copy through user space. (The reverse case
// is out of this package's reach: a *net.TCPConn reading from an
// io.LimitedReader around a *Conn copies through user space; limit
// c.NetConn() instead.)
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	switch src := r.(type) {
	case *Conn:
		return c.tcpConn.ReadFrom(src.tcpConn)
	case *io.LimitedReader:
		if inner, ok := src.R.(*Conn); ok {
			lr := &io.LimitedReader{R: inner.tcpConn, N: src.N}
			n, err := c.tcpConn.ReadFrom(lr)
			src.N = lr.N
			return n, err
		}
	}
	return c.tcpConn.ReadFrom(r)
}

// SpanContext returns the context of the connection's mptcp.connection span
// while the connection is open and its span records, so that a request span
// can link to it; an invalid SpanContext otherwise (no tracing, a custom
// WithTracer whose hooks have no span, or after Close).
func (c *Conn) SpanContext() trace.SpanContext {
	if c.tracker != nil {
		if h, ok := c.tracker.hooks.(interface{ SpanContext() trace.SpanContext }); ok {
			return h.SpanContext()
		}
	}
	return trace.SpanContext{}
}
