// Command demo shows mptcpx at work with nothing to set up: an HTTP server
// on mptcpx.Listen and HTTP clients on mptcpx.NewDialer transfer for a few
// seconds over loopback, a plain-TCP client and a plain-TCP server show two
// fallbacks, and a report says, for every connection, whether it was MPTCP,
// which subflows it had, over which addresses, with which round-trip times
// and byte counts, and when mptcpx saw each change.
//
//	go run ./examples/demo
//
// On loopback the kernel has a single path, so every MPTCP connection has
// one subflow. As root, -paths N (2 to 8) builds two network namespaces
// joined by N veth pairs, with an MPTCP subflow endpoint on each extra
// client address, and runs the server in one namespace and the clients in
// the other: each connection then has N subflows, one per link.
//
//	sudo go run ./examples/demo -paths 3
//
// The namespaces are removed on exit, Ctrl-C included.
//
// For every connection whose paths something limits, the report says what
// (mptcpx's diagnosis, Conn.PathsDiagnosis) and the command that changes
// it. On loopback the host's own configuration decides: a fresh host has
// no MPTCP endpoint, so each end reports no_endpoint.
//
// With -blackhole the server's namespace drops the SYNs that carry
// MP_CAPABLE (nftables), as a middlebox that does not know MPTCP may: the
// first dial waits for its SYN retransmissions, then the kernel dials
// without MPTCP and turns active MPTCP off in the client's namespace for
// net.mptcp.blackhole_timeout (Linux 6.12+). mptcpx reports those
// connections as fallbacks of reason blackhole; the report says how to see
// it (nstat -az MPTcpExtBlackhole MPTcpExtMPCapableSYNTXDisabled) and to
// end it (writing net.mptcp.blackhole_timeout, any value).
//
//	sudo go run ./examples/demo -paths 2 -blackhole
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	cfg := config{Clients: 2, Size: 8 << 20}
	flag.DurationVar(&cfg.Duration, "duration", 3*time.Second, "how long the MPTCP clients transfer")
	flag.IntVar(&cfg.Paths, "paths", 1, "paths between client and server: 1 is loopback; 2 to 8 build network namespaces (needs root)")
	flag.DurationVar(&cfg.Interval, "interval", 200*time.Millisecond, "how often mptcpx samples each connection")
	flag.BoolVar(&cfg.Blackhole, "blackhole", false, "with -paths: drop the SYNs that carry MPTCP in the server's namespace (nftables), as a middlebox may, and see the kernel turn MPTCP off")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: demo [-duration 3s] [-paths N [-blackhole]] [-interval 200ms]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}

	// The first Ctrl-C ends the transfer early, tears the namespaces down
	// and still prints the report; a second one kills the program.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	err := run(ctx, cfg, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		var ue *usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}
