// Package testbed builds real multi-path MPTCP test networks on one Linux
// machine: two network namespaces, Client and Server, joined by one to four
// veth pairs ("paths"), with the kernel path manager configured so that an
// MPTCP connection from Client to Server opens one subflow per path.
//
// A test needs root. New skips the test otherwise (or fails it when
// MPTCPX_STRICT=1, see internal/testenv), creates the namespaces under unique
// names, and registers a cleanup that deletes them even when the test fails
// or panics. Namespaces left behind by a test process that was killed are
// removed by the next New (see Sweep).
//
// Sockets are created inside a namespace with NS.Do, which runs a function on
// an OS thread switched into the namespace. A socket keeps the namespace it
// was created in for its whole life, so it can then be used from any
// goroutine:
//
//	bed := testbed.New(t, testbed.Config{Paths: 3})
//	var ln net.Listener
//	err := bed.Server.Do(func() (err error) {
//		var lc net.ListenConfig
//		lc.SetMultipathTCP(true)
//		ln, err = lc.Listen(context.Background(), "tcp", ":5000")
//		return err
//	})
//
// The kernel's own view of the connections, as printed by ss(8), is parsed
// into typed values by NS.MPTCPSockets and NS.TCPSockets (ParseMPTCP and
// ParseTCP for captured text), so tests can compare what a library reports
// with what the kernel says. NS.WaitMPTCP and NS.WaitTCP poll that view until
// a condition holds, because subflows are created asynchronously by the
// kernel, usually within a second.
//
// All traffic stays inside the namespaces: the paths are veth pairs that are
// connected to nothing else, and the addresses (see Bed.ClientAddr) are only
// routed between the two namespaces.
package testbed
