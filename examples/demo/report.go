package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mptcpx/mptcpx/conntrace"
)

// writeReport prints what happened: the set-up, the transfer, then every
// connection with both of its ends (where both are traced), each end's
// subflows and the timeline of what mptcpx saw, and where telemetry goes.
func writeReport(w io.Writer, cfg config, nw *network, tr *transfer, rec *recorder, interrupted bool) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "mptcpx demo: HTTP over Multipath TCP %s, %v\n", nw.desc, cfg.Duration)
	fmt.Fprintf(bw, "servers: MPTCP %s (mptcpx.Listen), plain TCP %s (net.Listen)\n", tr.mptcpAddr, tr.plainAddr)
	fmt.Fprintf(bw, "transfer: %d clients, %d downloads + %d uploads of %s in %.2fs (%s), then %d requests that fall back to TCP\n",
		cfg.Clients, tr.downloads, tr.uploads, size(uint64(cfg.Size)), tr.elapsed.Seconds(), size(uint64(tr.bytes)), tr.fallbackReqs)
	if interrupted {
		fmt.Fprintln(bw, "(interrupted: the transfer stopped early)")
	}

	rec.mu.Lock()
	blackhole, limited := false, false
	for i, group := range rec.connections() {
		first := group[0]
		from, to := first.self, first.peer
		switch {
		case len(group) == 2:
			to = group[1].self
		case first.role == "server":
			from, to = first.peer, first.self
		}
		fmt.Fprintf(bw, "\nconn %d: %s -> %s\n", i+1, from, to)
		for _, c := range group {
			writeEnd(bw, c, rec.start)
			blackhole = blackhole || c.fallback == conntrace.FallbackBlackhole
			limited = limited || c.paths.Limit != conntrace.PathsLimitNone && c.paths.Limit != conntrace.PathsLimitFallback
		}
	}
	rec.mu.Unlock()

	if limited {
		fmt.Fprintln(bw, `
Why one path: mptcpx diagnoses every connection's paths (Conn.PathsLimit, the span attribute and event
mptcp.paths.limit, the metric mptcp.connection.paths.limited). Each side names its own part; the command
after "to change it" is for the host of that side (ADDR and IF: another address of it and its interface).`)
		if nw.loopback {
			fmt.Fprintln(bw, `On loopback there is one path whatever the endpoints: run with -paths 2 (as root) for several.`)
		}
	}
	if blackhole {
		fmt.Fprintln(bw, `
Blackhole: a middlebox (here nftables in the server's namespace: tcp flags syn / syn,ack tcp option mptcp
exists drop) drops the SYNs that carry MP_CAPABLE while plain SYNs pass. The first dial waited for its SYN
retransmissions (net.mptcp.syn_retrans_before_tcp_fallback), then the kernel dialed without MPTCP, concluded
a blackhole, and turned active MPTCP off in the client's namespace for net.mptcp.blackhole_timeout (an hour,
doubled at each new detection): every later dial is plain TCP at once, even once the middlebox is gone.
mptcpx reports those connections with mptcp.fallback.reason "blackhole". See it with
  nstat -az MPTcpExtBlackhole MPTcpExtMPCapableSYNTXDisabled
(or the metrics mptcp.netns.blackhole.detections and mptcp.netns.fallbacks{mptcp.netns.fallback.cause=
"active_mptcp_off"}), and turn active MPTCP back on by writing the sysctl, any value:
  sysctl -w net.mptcp.blackhole_timeout=3600`)
	}

	fmt.Fprintln(bw, `
OpenTelemetry: the report above comes from a conntrace.Hooks of this demo, installed with
mptcpx.WithHooks beside the OpenTelemetry instrumentation that mptcpx installs on every connection.
That instrumentation records mptcp.connection spans, their events (also as log records) and mptcp.*
metrics through the global providers (otel.SetTracerProvider, otel.SetMeterProvider, the global
LoggerProvider), or through those given with mptcpx.WithTelemetry; this demo installs no SDK, so
nothing is exported. See examples/otel (HTTP and gRPC), which export wherever the OTEL_* environment
variables say (for example OTEL_EXPORTER_OTLP_ENDPOINT).`)
	return bw.Flush()
}

// writeEnd prints one end of a connection: a summary line, its subflows and
// its events.
func writeEnd(w io.Writer, c *connRecord, start time.Time) {
	fmt.Fprintf(w, "  %s %s -> %s  ", c.role, c.local, c.remote)
	switch {
	case c.fallback != conntrace.FallbackNone:
		fmt.Fprintf(w, "fallback (%s): %s\n", c.fallback, fallbackWhy(c))
	case c.mptcp:
		fmt.Fprintf(w, "MPTCP  token 0x%08x  subflows max %d  sent %s  received %s\n",
			c.token, c.subflowsMax, size(c.sent), size(c.recv))
	default:
		fmt.Fprintln(w, "no MPTCP state could be read")
	}
	for _, sf := range c.subflows {
		rtt := "-"
		if sf.rtt > 0 {
			rtt = fmt.Sprintf("%.2fms", float64(sf.rtt)/float64(time.Millisecond))
		}
		state := ""
		if sf.removed {
			state = "  (removed)"
		}
		fmt.Fprintf(w, "    subflow %d  %s -> %s  rtt %s  sent %s  received %s%s\n",
			sf.id, sf.local, sf.remote, rtt, size(sf.sent), size(sf.recv), state)
	}
	var ev strings.Builder
	for i, e := range c.events {
		if i > 0 {
			ev.WriteString(", ")
		}
		fmt.Fprintf(&ev, "+%.3fs %s", e.at.Sub(start).Seconds(), e.what)
	}
	fmt.Fprintf(w, "    events  %s\n", ev.String())
	if d := c.paths; d.Limit != conntrace.PathsLimitNone && d.Limit != conntrace.PathsLimitFallback {
		fmt.Fprintf(w, "    paths   %s: %s\n", d.Limit, d)
		fmt.Fprintf(w, "    to change it: %s\n", d.Remedy())
	}
}

// fallbackWhy says in words why a connection is plain TCP.
func fallbackWhy(c *connRecord) string {
	switch c.fallback {
	case conntrace.FallbackNotNegotiated:
		if c.role == "server" {
			return "plain TCP because the client did not ask for MPTCP"
		}
		return "plain TCP because the peer did not answer in MPTCP"
	case conntrace.FallbackMidConnection:
		return "the connection was MPTCP and fell back to TCP"
	case conntrace.FallbackUnavailable:
		return "plain TCP because MPTCP is disabled on this host (turn it on with sysctl net.mptcp.enabled=1) or not built into its kernel"
	case conntrace.FallbackBlackhole:
		return "plain TCP because a middlebox drops MPTCP SYNs: the kernel's blackhole detection turned active MPTCP off"
	}
	return c.fallback.String()
}

// size formats a byte count with binary units.
func size(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, u := float64(n)/unit, 0
	for v >= unit && u < 3 {
		v /= unit
		u++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGT"[u])
}
