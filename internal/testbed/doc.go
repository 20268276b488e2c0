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
// A connection from Client to ServerAddr(0) starts with one subflow on path 0.
// The kernel's path manager adds the other subflows (one per further path
// with the default endpoints) only once the connection is fully
// established, that is after the first data has been sent and acknowledged:
// an idle new connection keeps one subflow. Bed.DeleteEndpoint and
// Bed.AddEndpoint remove and restore a path's subflows during a connection.
//
// The kernel's own view of the connections, as printed by ss(8), is parsed
// into typed values by NS.MPTCPSockets and NS.TCPSockets (ParseMPTCP and
// ParseTCP for captured text), so tests can compare what a library reports
// with what the kernel says. NS.WaitMPTCP and NS.WaitTCP poll that view until
// a condition holds, because subflows are created asynchronously by the
// kernel, usually within a second.
//
// Config.RateLimit limits a path's rate (tc's token bucket); Config.Loss
// drops a share of its packets at random (nftables: there is no netem on
// these machines), one segment at a time, so that tests can tell a lossy
// path from a clean one.
//
// New and Close together take about 12 ms (2 paths) to 17 ms (4 paths) on a
// 2-core VM, so tests can use a fresh bed each (BenchmarkNewClose).
//
// All traffic stays inside the namespaces: the paths are veth pairs that are
// connected to nothing else, and the addresses (see Bed.ClientAddr) are only
// routed between the two namespaces.
package testbed
