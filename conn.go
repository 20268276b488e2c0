package mptcpx

import (
	"io"
	"net"
	"os"
	"runtime"
	"syscall"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/follow"
)

// tcpConn names net.TCPConn so that Conn can embed it in an unexported
// field: every method of *net.TCPConn is promoted to *Conn, and the field
// itself stays private.
type tcpConn = net.TCPConn

// Conn is a TCP connection opened by a [Dialer] or accepted by a [Listener]
// of this package: Multipath TCP when both ends and the kernel agree, plain
// TCP otherwise ([net.TCPConn.MultipathTCP] reports which, and
// [Conn.FallbackReason] why).
//
// Conn embeds [net.TCPConn], so it has all its methods, and a *Conn passes
// wherever a *net.TCPConn's interfaces are wanted. It adds [Conn.NetConn],
// [Conn.Info], [Conn.FallbackReason] and [Conn.Hooks]. It changes eight, each
// by a comparison or two around the inner method: [Conn.Close] is
// idempotent and takes a last sample; [Conn.ReadFrom] keeps splice for
// io.Copy between Conns; [Conn.Read], [Conn.WriteTo], [Conn.ReadFrom] and
// [Conn.CloseWrite] note the ends of the stream, so that the byte counters of older kernels
// leave out the MPTCP DATA_FIN; [Conn.Write] and [Conn.ReadFrom] note that
// the connection moved, and [Conn.NetConn] and [Conn.File] that its socket
// was handed out, for the sampler's quiet connections (see
// [WithInterval]); [Conn.File] fails cleanly on a zero Conn. SyscallConn
// is net's own: os keeps splice(2) and sendfile(2) with the RawConn it
// returns, which a wrapper would lose.
//
// A Conn that a program drops without closing is closed by the garbage
// collector, as a *net.TCPConn is, and its telemetry ends with it. The zero
// Conn is not connected: like a zero net.TCPConn, its methods fail with
// [syscall.EINVAL].
type Conn struct {
	// The connection, by value: a copy of the *net.TCPConn that net
	// returned shares its socket, and a zero Conn has a zero TCPConn, whose
	// methods fail cleanly instead of dereferencing nil.
	tcpConn

	follower *follow.Follower // nil: followed by nothing
}

// newConn returns tc as a *Conn followed by f from now on: its first
// sample, the Established hook, its place in the schedule, and, once the
// *Conn is unreachable, its end (the follower holds nothing that points
// back to it).
func newConn(tc *net.TCPConn, f *follow.Follower) *Conn {
	c := &Conn{tcpConn: *tc, follower: f}
	if f.Established(c, tc) {
		runtime.AddCleanup(c, (*follow.Follower).Collected, f)
	}
	return c
}

// NetConn returns the underlying connection, as crypto/tls.Conn.NetConn
// does. Data read from or written to it bypasses nothing: Conn has no
// buffers. Closing it directly skips the last reading that Close takes: the
// sampler then ends the connection's telemetry within one interval with
// what it last read.
//
// A connection whose NetConn (or File) was taken is read at every interval
// from then on: the program may write to it or close it unseen, so the
// kernel's readiness list no longer answers for it when it is quiet.
func (c *Conn) NetConn() net.Conn {
	c.follower.Untrack()
	return &c.tcpConn
}

// Write writes data to the connection, as net.TCPConn.Write does, and
// notes that the connection moved: a quiet connection is sampled again at
// its interval rather than at its next rotation (see WithInterval).
func (c *Conn) Write(b []byte) (int, error) {
	n, err := c.tcpConn.Write(b)
	c.follower.Wrote()
	return n, err
}

// Close closes the connection. The first call takes the last sample of the
// MPTCP state, so that the final counters are known, including the bytes
// written but still queued in the kernel, and returns the error of closing
// the socket (with SO_LINGER set, the kernel's close may wait, as with
// net.TCPConn). A Close while another is under way waits until the socket
// is closed; later calls return the error the closed *net.TCPConn returns
// (wrapping net.ErrClosed).
//
// Close is safe to call while other goroutines are in Read, Write or Info:
// they return with an error wrapping net.ErrClosed. It may be called from
// any hook, of this connection or another: it never waits for a hook. When
// a hook of the connection runs on another goroutine at the time, the
// final sample and Closed are delivered right after that hook returns,
// possibly after Close returned.
func (c *Conn) Close() error {
	if err, done := c.follower.Close(); done {
		return err
	}
	return c.tcpConn.Close()
}

// Read reads data from the connection, as net.TCPConn.Read does.
func (c *Conn) Read(b []byte) (int, error) {
	n, err := c.tcpConn.Read(b)
	if err == io.EOF {
		c.follower.SawEOF()
	}
	return n, err
}

// WriteTo implements io.WriterTo with the inner *net.TCPConn's WriteTo,
// which uses splice(2) when w is a Unix stream connection.
func (c *Conn) WriteTo(w io.Writer) (int64, error) {
	n, err := c.tcpConn.WriteTo(w)
	if err == nil { // WriteTo returns a nil error at the end of the stream
		c.follower.SawEOF()
	}
	return n, err
}

// CloseWrite shuts down the writing side of the connection, as
// net.TCPConn.CloseWrite does: on an MPTCP connection the kernel sends a
// DATA_FIN once everything written is out. A sample is taken first, as one
// is when Read returns the end of the stream: once both sides are shut
// down the kernel closes the subflows, and this keeps what each carried.
func (c *Conn) CloseWrite() error {
	return c.follower.ShutdownWrite(c.tcpConn.CloseWrite)
}

// File returns a copy of the underlying os.File, as net.TCPConn.File does.
// On a zero Conn it fails with syscall.EINVAL, as every other method does.
func (c *Conn) File() (*os.File, error) {
	if c.tcpConn == (tcpConn{}) {
		return nil, &net.OpError{Op: "file", Net: "tcp", Err: syscall.EINVAL}
	}
	c.follower.Untrack()
	return c.tcpConn.File()
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
	c.follower.Copying(true)
	defer c.follower.Copying(false)
	switch src := r.(type) {
	case *Conn:
		n, err := c.tcpConn.ReadFrom(&src.tcpConn)
		if err == nil { // ReadFrom returns a nil error at the source's end
			src.follower.SawEOF()
		}
		return n, err
	case *io.LimitedReader:
		if inner, ok := src.R.(*Conn); ok {
			lr := &io.LimitedReader{R: &inner.tcpConn, N: src.N}
			n, err := c.tcpConn.ReadFrom(lr)
			src.N = lr.N
			if err == nil && lr.N > 0 { // stopped short of the limit: the end
				inner.follower.SawEOF()
			}
			return n, err
		}
	}
	return c.tcpConn.ReadFrom(r)
}

// FallbackReason says why the connection is plain TCP rather than MPTCP,
// as the sampler last found it: conntrace.FallbackUnavailable when this host
// could not open an MPTCP socket (MPTCP disabled with sysctl
// net.mptcp.enabled=0, or not in the kernel), FallbackNotNegotiated when
// the peer did not take MPTCP, FallbackBlackhole when the kernel dialed
// without MPTCP because a middlebox drops MPTCP SYNs (its blackhole
// detection, Linux 6.12+), FallbackMidConnection when the connection
// fell back later. It is FallbackNone while the connection is MPTCP, and on
// kernels before 5.16 for a socket opened as MPTCP, whose fallback the
// kernel does not report.
func (c *Conn) FallbackReason() conntrace.FallbackReason {
	return c.follower.FallbackReason()
}

// Hooks returns the hooks that follow the connection: those of the
// OpenTelemetry instrumentation and of WithHooks, behind one that calls
// each in turn when there are several (conntrace.Multiplex). An
// instrumentation finds its own state among them: package mptcpxotel's
// ConnSpanContext returns the connection's span this way. nil when nothing
// follows the connection.
func (c *Conn) Hooks() conntrace.ConnHooks {
	return c.follower.Hooks()
}
