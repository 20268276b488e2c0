package mptcpxgrpc_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/internal/oteltest"
	"github.com/mptcpx/mptcpx/internal/testbed"
	"github.com/mptcpx/mptcpx/mptcpxgrpc"
)

// This module's tests use the test bed of the library's module
// (internal/testbed): Go decides whether an internal package may be imported
// by import path, and github.com/mptcpx/mptcpx/mptcpxgrpc lies under
// github.com/mptcpx/mptcpx, in whichever module. The bed is then the one
// the library's own tests run on, and grpc-go stays out of the library's
// go.mod.

// The streaming test's transfer: streamMsgs messages of streamMsgSize
// bytes, over two paths of pathRate each.
const (
	streamMsgs    = 1024
	streamMsgSize = 32 << 10 // 32 MiB in all
	pathRate      = "40mbit"
	mib           = 1 << 20
)

// TestStreamSurvivesPathRemoval runs a server-streaming RPC over a two-path
// test bed (two network namespaces joined by two veth pairs, each limited
// to 40 Mbit/s): grpc-go's client dials with mptcpx inside the client
// namespace, its server serves a mptcpx listener in the other. Once both
// subflows have carried data, path 1's endpoint is deleted while the
// stream runs. The stream goes on over path 0 and delivers every byte; the
// mptcp.connection spans of both sides hold the mptcp.subflow.removed
// event of path 1's subflow, and both RPC spans link to them. The test
// logs the bytes each path carried before and after the removal (the
// README quotes them).
func TestStreamSurvivesPathRemoval(t *testing.T) {
	b := testbed.New(t, testbed.Config{Paths: 2, RateLimit: map[int]string{0: pathRate, 1: pathRate}})
	tel := oteltest.New(t)
	var ln net.Listener
	err := b.Server.Do(func() (err error) {
		ln, err = mptcpx.Listen("tcp", ":0", mptcpxOptions(tel)...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	_, stop := serve(t, ln, serverOptions(tel, insecure.NewCredentials())...)

	// grpc-go dials on a goroutine of its own: the dial must enter the
	// client namespace, where the socket then stays.
	d := mptcpx.NewDialer(nil, mptcpxOptions(tel)...)
	inClient := grpc.WithContextDialer(func(ctx context.Context, addr string) (c net.Conn, err error) {
		err = b.Client.Do(func() error {
			c, err = d.DialContext(ctx, "tcp", addr)
			return err
		})
		return c, err
	})
	target := netip.AddrPortFrom(b.ServerAddr(0), uint16(ln.Addr().(*net.TCPAddr).Port))
	cc := newClient(t, target.String(), inClient,
		mptcpxgrpc.WithTransportCredentials(insecure.NewCredentials()),
		mptcpxgrpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithTracerProvider(tel.TP), propagators)))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	stream, err := testgrpc.NewTestServiceClient(cc).StreamingOutputCall(ctx, streamRequest(streamMsgs, streamMsgSize))
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{stream: stream}
	began := time.Now()
	done := r.receive()
	if err := waitFor(time.Minute, func() bool { return r.received() > 0 }); err != nil {
		t.Fatal("no message on the stream")
	}
	c, ok := mptcpxgrpc.ConnFromContext(stream.Context())
	if !ok {
		t.Fatal("no connection in the client stream's Context")
	}

	// Both paths carry the stream, then path 1 goes.
	path0, path1 := b.ClientAddr(0), b.ClientAddr(1)
	waitSubflows(t, c, "both paths to carry 4 MiB", func(byPath map[netip.Addr]uint64) bool {
		return byPath[path0] >= 4*mib && byPath[path1] >= 4*mib
	})
	before := infoBytes(t, c) // the kernel's counters, just before
	atRemoval := r.received()
	removed := time.Now()
	if err := b.DeleteEndpoint(1); err != nil {
		t.Fatal(err)
	}
	waitSubflows(t, c, "path 1's subflow to go", func(byPath map[netip.Addr]uint64) bool {
		_, ok := byPath[path1]
		return !ok
	})
	if left := streamMsgs*streamMsgSize - atRemoval; left < 8*mib {
		t.Fatalf("only %d bytes of the stream were left when path 1 went: the test proves nothing", left)
	}

	// The stream ends well, with every byte, on path 0 alone.
	if err := <-done; err != nil {
		t.Fatalf("stream after the removal: %v (%d of %d bytes)", err, r.received(), streamMsgs*streamMsgSize)
	}
	took := time.Since(removed)
	if got := r.received(); got != streamMsgs*streamMsgSize {
		t.Fatalf("stream: %d bytes, want %d", got, streamMsgs*streamMsgSize)
	}
	cc.Close()
	stop()
	total := pathBytes(t, tel)
	clientConn := waitConnSpans(t, tel, oteltest.RoleClient, 1)[0]
	serverConn := waitConnSpans(t, tel, oteltest.RoleServer, 1)[0]

	// The removal is on both connection spans, and both RPC spans link to
	// them.
	gone := oteltest.SubflowEvents(t, clientConn, "mptcp.subflow.removed")
	if len(gone) != 1 || gone[0].Local.Addr() != path1 {
		t.Fatalf("client connection span: mptcp.subflow.removed events %v, want one, from %v", gone, path1)
	}
	ev := oteltest.Events(clientConn, "mptcp.subflow.removed")[0]
	last, _ := oteltest.Attr(ev.Attributes, "mptcp.subflow.bytes.received")
	t.Logf("client connection span: mptcp.subflow.removed %v after the deletion, subflow %d from %v, mptcp.subflow.bytes.received %s",
		ev.Time.Sub(removed).Round(time.Millisecond), gone[0].ID, gone[0].Local, fmtMiB(last.AsInt64()))
	gone = oteltest.SubflowEvents(t, serverConn, "mptcp.subflow.removed")
	if len(gone) != 1 || gone[0].Peer.Addr().Unmap() != path1 {
		t.Errorf("server connection span: mptcp.subflow.removed events %v, want one, from %v", gone, path1)
	}
	checkLinked(t, "client", waitRPCSpans(t, tel, streamSpan, trace.SpanKindClient, 1), []sdktrace.ReadOnlySpan{clientConn})
	checkLinked(t, "server", waitRPCSpans(t, tel, streamSpan, trace.SpanKindServer, 1), []sdktrace.ReadOnlySpan{serverConn})

	// Before: the kernel's counters just before the deletion. After: what
	// the sampler counted in all, less that. A removed subflow is counted
	// up to its last sample, which may come before the Info reading (the
	// subflow is gone when the path event arrives): nothing, then.
	for _, p := range []netip.Addr{path0, path1} {
		t.Logf("path %v: %s before the removal, %s after (client, received)", p, fmtMiB(before[p]), fmtMiB(max(total[p]-before[p], 0)))
	}
	both := removed.Sub(began)
	t.Logf("stream: %s in %d messages: %s in %v on both paths (%.0f Mbit/s), then %s in %v on path 0 alone (%.0f Mbit/s)",
		fmtMiB(streamMsgs*streamMsgSize), streamMsgs,
		fmtMiB(atRemoval), both.Round(10*time.Millisecond), mbits(atRemoval, both),
		fmtMiB(streamMsgs*streamMsgSize-atRemoval), took.Round(10*time.Millisecond), mbits(streamMsgs*streamMsgSize-atRemoval, took))
	if after := total[path1] - before[path1]; after > mib {
		t.Errorf("path 1 received %s after its endpoint was deleted", fmtMiB(after))
	}
	if after := total[path0] - before[path0]; after < 8*mib {
		t.Errorf("path 0 received only %s after the removal", fmtMiB(after))
	}
}

// infoBytes returns the bytes each established subflow of c received, by
// local address, as the kernel counts them now.
func infoBytes(t testing.TB, c *mptcpx.Conn) map[netip.Addr]int64 {
	t.Helper()
	s, err := c.Info()
	if err != nil {
		t.Fatal(err)
	}
	out := map[netip.Addr]int64{}
	for _, sf := range s.Subflows {
		if sf.State() == tcpEstablished {
			out[sf.Local.Addr().Unmap()] = int64(sf.BytesReceived())
		}
	}
	return out
}

// waitSubflows polls c's kernel state until cond holds for the bytes each
// established subflow received, by local address.
func waitSubflows(t testing.TB, c *mptcpx.Conn, what string, cond func(map[netip.Addr]uint64) bool) {
	t.Helper()
	var last map[netip.Addr]uint64
	err := testbed.WaitFor(time.Minute, func() (bool, error) {
		s, err := c.Info()
		if err != nil {
			return false, err
		}
		last = map[netip.Addr]uint64{}
		for _, sf := range s.Subflows {
			if sf.State() == tcpEstablished {
				last[sf.Local.Addr().Unmap()] = sf.BytesReceived()
			}
		}
		return cond(last), nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v; bytes received per path: %v", what, err, last)
	}
}

// tcpEstablished is tcp_info's state of a live subflow.
const tcpEstablished = 1

// pathBytes returns the client's mptcp.subflow.io received, per local
// address: the bytes each path carried, as the sampler counted them (for
// a subflow that is gone, up to its last sample).
func pathBytes(t testing.TB, tel *oteltest.Telemetry) map[netip.Addr]int64 {
	t.Helper()
	out := map[netip.Addr]int64{}
	by := oteltest.ByKey(t, tel.Metrics(t), "mptcp.subflow.io", "network.local.address", oteltest.RoleClient, oteltest.ReceiveDir)
	for a, n := range by {
		out[netip.MustParseAddr(a)] = n
	}
	return out
}

// mbits returns the rate of n bytes in d, in Mbit/s.
func mbits(n int64, d time.Duration) float64 { return float64(n) * 8 / d.Seconds() / 1e6 }

func fmtMiB[N int | int64](n N) string { return fmt.Sprintf("%.1f MiB", float64(n)/mib) }
