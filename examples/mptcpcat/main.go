// Command mptcpcat is netcat over Multipath TCP: it copies standard input to
// a connection and the connection to standard output, and prints what the
// kernel does with the connection to standard error every interval: whether
// it is MPTCP or plain TCP (and why), and each subflow with its id,
// addresses, state, round-trip time and byte counters. Run it against a
// peer to see whether a network gives you MPTCP, and over how many paths.
//
//	mptcpcat -l 127.0.0.1:5000 > file          # listen for one connection
//	mptcpcat -interval 500ms 127.0.0.1:5000 < file
//
// When standard input ends, the sending half of the connection is closed
// (the peer reads EOF) and the data from the peer is still read to its end.
// When the peer's data ends, mptcpcat is done as soon as what it sends is
// done: at once when standard input is a terminal (there is nothing more to
// wait for), after the rest of standard input when it is a file or a pipe.
// Statistics are printed once connected, every interval, and at the end a
// summary of every path the connection used, with the bytes each carried.
//
// When the connection has fewer paths than this host could give it,
// mptcpcat says why (mptcpx's diagnosis, Conn.PathsDiagnosis), and at the
// end prints the command that changes it, with this host's other
// addresses filled in:
//
//	mptcpcat: paths: no_endpoint: one path: this side has no MPTCP subflow endpoint ...
//	mptcpcat: to change it: ip mptcp endpoint add 192.168.1.20 dev wlan0 subflow
//
// A connection that is plain TCP because a middlebox drops MPTCP SYNs
// (the kernel's blackhole detection, Linux 6.12+) is reported as such:
// the first dial through it takes a few seconds (the SYN retransmissions),
// then the kernel dials plain TCP at once for net.mptcp.blackhole_timeout
// (an hour, doubled at each new detection). See it with
// `nstat -az MPTcpExtBlackhole MPTcpExtMPCapableSYNTXDisabled`; turn
// active MPTCP back on by writing the sysctl, any value:
// `sysctl -w net.mptcp.blackhole_timeout=3600`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"time"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

func main() {
	listen := flag.Bool("l", false, "listen on host:port and serve one connection, instead of dialing it")
	interval := flag.Duration("interval", time.Second, "how often to print statistics to stderr (0: only at the end)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: mptcpcat [-l] [-interval 1s] host:port")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 || *interval < 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*listen, flag.Arg(0), *interval); err != nil {
		fmt.Fprintln(os.Stderr, "mptcpcat:", err)
		os.Exit(1)
	}
}

func run(listen bool, addr string, interval time.Duration) error {
	paths := &pathLog{}
	conn, err := connect(listen, addr, mptcpx.WithHooks(paths))
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "mptcpcat: connected %s -> %s\n", unmapAddr(conn.LocalAddr()), unmapAddr(conn.RemoteAddr()))
	printStats(conn)

	sent := make(chan error, 1)
	go func() {
		_, err := io.Copy(conn, os.Stdin) // splice(2) where stdin allows it
		sent <- errors.Join(err, conn.CloseWrite())
	}()
	received := make(chan error, 1)
	go func() {
		_, err := io.Copy(os.Stdout, conn)
		received <- err
	}()
	interrupt := make(chan os.Signal, 1)
	signal.Notify(interrupt, os.Interrupt)
	defer signal.Stop(interrupt)
	var tick <-chan time.Time
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}

	var errs []error
	sending, receiving := true, true
	for sending || receiving {
		select {
		case <-tick:
			printStats(conn)
		case err := <-sent:
			errs, sending = append(errs, err), false
		case err := <-received:
			errs, receiving = append(errs, err), false
			if sending && isTerminal(os.Stdin) {
				// The peer is done and a terminal has no end to wait for.
				sending = false
			}
		case <-interrupt:
			sending, receiving = false, false
			errs = append(errs, errors.New("interrupted"))
		}
	}
	printStats(conn)
	conn.Close() // the last sample, then Closed: the summary is complete
	paths.summary(os.Stderr)
	return errors.Join(errs...)
}

// connect dials addr, or listens on it and accepts one connection.
func connect(listen bool, addr string, opts ...mptcpx.Option) (*mptcpx.Conn, error) {
	if !listen {
		return mptcpx.NewDialer(nil, opts...).DialConn(context.Background(), "tcp", addr)
	}
	ln, err := mptcpx.Listen("tcp", addr, opts...)
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	fmt.Fprintf(os.Stderr, "mptcpcat: listening on %s\n", ln.Addr())
	return ln.AcceptConn()
}

// isTerminal reports whether f is a terminal (a character device).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// printStats reads the connection's MPTCP state from the kernel and prints
// it: one line for the connection, one per subflow.
func printStats(c *mptcpx.Conn) {
	s, err := c.Info()
	if err != nil {
		if !errors.Is(err, net.ErrClosed) {
			fmt.Fprintln(os.Stderr, "mptcpcat:", err)
		}
		return
	}
	line := fmt.Sprintf("mptcpcat: %s -> %s  ", unmapAddr(c.LocalAddr()), unmapAddr(c.RemoteAddr()))
	switch {
	case s.MPTCP:
		line += fmt.Sprintf("MPTCP  token 0x%08x  subflows %d", s.Info.Token, len(s.Subflows))
		if s.Has(mptcpinfo.FieldBytes) {
			line += fmt.Sprintf("  sent %s  received %s  retransmitted %s",
				size(s.Info.BytesSent), size(s.Info.BytesReceived), size(s.Info.BytesRetrans))
		}
	case c.FallbackReason() == conntrace.FallbackUnavailable:
		line += "plain TCP because MPTCP is disabled on this host (turn it on with sysctl net.mptcp.enabled=1) or not built into its kernel"
	case c.FallbackReason() == conntrace.FallbackMidConnection:
		line += "plain TCP: the connection was MPTCP and fell back (a middlebox on the path)"
	case c.FallbackReason() == conntrace.FallbackBlackhole:
		line += "plain TCP because a middlebox drops MPTCP SYNs: the kernel turned active MPTCP off (see it: nstat -az MPTcpExtBlackhole MPTcpExtMPCapableSYNTXDisabled; turn it back on: sysctl -w net.mptcp.blackhole_timeout=3600)"
	case s.Fallback:
		line += "plain TCP because the peer did not answer in MPTCP"
	case s.State == 7: // TCP_CLOSE: reset
		line += "reset: the connection is gone"
	case s.Method == mptcpinfo.MethodProtocol && s.MPTCP:
		line += "MPTCP, no statistics: this kernel has no MPTCP socket options (before 5.16)"
	default:
		line += "plain TCP because the peer did not ask for MPTCP"
	}
	fmt.Fprintln(os.Stderr, line)
	for i := range s.Subflows {
		sf := &s.Subflows[i]
		id := sf.ID
		if !s.Has(mptcpinfo.FieldSubflowID) { // before 6.5: number by position
			id = uint32(i + 1)
		}
		fmt.Fprintf(os.Stderr, "mptcpcat:   subflow %d  %s -> %s  %s  rtt %s  sent %s  received %s\n",
			id, unmap(sf.Local), unmap(sf.Remote), stateName(sf.State()), rtt(sf.TCPInfo.RTT), size(sf.BytesSent()), size(sf.BytesReceived()))
	}
	if d := c.PathsDiagnosis(); d.Limit != conntrace.PathsLimitNone && d.Limit != conntrace.PathsLimitFallback {
		fmt.Fprintf(os.Stderr, "mptcpcat:   why %s: %s\n", pluralPaths(d.Subflows), d)
	}
}

// pluralPaths says "one path", "2 paths".
func pluralPaths(n int) string {
	if n == 1 {
		return "one path"
	}
	return fmt.Sprintf("%d paths", n)
}

// stateName names a TCP state as ss(8) does.
func stateName(state uint8) string {
	names := [...]string{1: "ESTAB", 2: "SYN-SENT", 3: "SYN-RECV", 4: "FIN-WAIT-1", 5: "FIN-WAIT-2",
		6: "TIME-WAIT", 7: "CLOSE", 8: "CLOSE-WAIT", 9: "LAST-ACK", 10: "LISTEN", 11: "CLOSING"}
	if int(state) < len(names) && names[state] != "" {
		return names[state]
	}
	return fmt.Sprintf("state-%d", state)
}

// rtt formats tcp_info.rtt (microseconds); 0 means none measured yet.
func rtt(micros uint32) string {
	if micros == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fms", float64(micros)/1000)
}

// unmap writes an IPv4-mapped IPv6 address (what a dual-stack socket
// reports for an IPv4 peer) as the IPv4 address it is.
func unmapAddr(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return unmap(ta.AddrPort()).String()
	}
	return a.String()
}

// size formats a byte count with binary units.
func size(n uint64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v, u := float64(n)/1024, 0
	for v >= 1024 && u < 3 {
		v /= 1024
		u++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGT"[u])
}
