// Package mptcpx opens Multipath TCP (MPTCP) connections and makes what
// the kernel does with them visible.
//
// MPTCP (RFC 8684) lets one connection use several network paths at once:
// Wi-Fi and cellular, two uplinks, several addresses of a data-centre host.
// Each path carries a TCP subflow; the kernel adds and removes subflows as
// paths appear and vanish, and falls back to plain TCP when the peer or a
// middlebox does not speak MPTCP. Since Go 1.21 the net package can ask for
// MPTCP, but it only says whether a connection uses it. This package keeps
// net's API and adds the rest: how many subflows, over which addresses, with
// which round-trip times and byte counters, and whether and when the
// connection fell back.
//
// # Quick start
//
// Swap net.Dial for Dial, and wrap a server's listener with NewListener:
//
//	conn, err := mptcpx.Dial("tcp", "example.net:443")
//
//	srv := &http.Server{Handler: h}
//	ln, err := mptcpx.Listen("tcp", ":8080")
//	err = srv.Serve(ln)
//
// An existing listener (from net.ListenConfig, systemd socket activation,
// ...) is wrapped with NewListener; an http.Transport dials through
// NewDialer(base).DialContext, with every field of the base net.Dialer
// applied.
//
// Every connection is a *Conn. It keeps the whole method set of
// *net.TCPConn (CloseWrite, SetKeepAlive, SyscallConn, MultipathTCP, ...)
// and its zero-copy paths: io.Copy between connections and files still
// uses splice(2) and sendfile(2), and Read and Write are the socket's own,
// with no code of this package on the data path. TLS goes on top as usual:
// tls.Client(conn, cfg) or tls.NewListener(ln, cfg). Conn.Info reads the
// kernel's MPTCP state on demand, and Conn.NetConn returns the wrapped
// connection.
//
// # Sampling and telemetry
//
// Every live connection is sampled at an interval (WithInterval, one second
// by default) and once more as it ends: at Close, when its socket is found
// closed underneath, or when the garbage collector collects a *Conn the
// program dropped without Close. A sample is a few
// getsockopt(SOL_MPTCP) calls, read by package
// github.com/mptcpx/mptcpx/mptcpinfo into reused buffers. Changes between
// samples become events of the connection (subflow added or removed,
// fallback), recorded as OpenTelemetry span events on the connection's span
// and as log records, and metric updates (bytes per path, subflow
// round-trip times, active subflows): package
// github.com/mptcpx/mptcpx/mptcpxotel records them through the global providers
// by default, WithTelemetry chooses others or turns parts off, and
// WithoutTelemetry leaves it out. WithHooks adds hooks of the program's own
// (package github.com/mptcpx/mptcpx/conntrace), which follow every
// connection beside the telemetry.
//
// # Why one path
//
// Every connection is also diagnosed: when it has fewer subflows than its
// host could give it, Conn.PathsLimit says what stopped it (not MPTCP at
// all, a join the peer refused or that failed, a userspace path manager,
// the subflows limit, the limit on the addresses the peer announces, no
// endpoint), Conn.PathsDiagnosis gives the detail, its String the words and
// its Remedy the command that changes it (`ip mptcp endpoint add ADDR dev
// IF subflow`, `ip mptcp limits set subflows 2`, ...). The diagnosis comes
// from what each sample already read and from the configuration of the
// connection's network namespace, read once per namespace; the telemetry
// carries it as the span attribute and event mptcp.paths.limit.
//
// # Platforms
//
// MPTCP statistics exist on Linux only (5.16 or later for per-subflow
// details, 6.5 or later for everything in one call); older kernels give
// what they have, and Info reports which fields are filled in. Where the
// kernel cannot open MPTCP sockets (CONFIG_MPTCP off, sysctl
// net.mptcp.enabled=0) connections are plain TCP, exactly as with package
// net. On every other operating system the package builds and works as
// plain TCP with connection spans, and Info returns an error wrapping
// mptcpinfo.ErrNotSupported.
package mptcpx
