// Command consumer uses the mptcpx modules as a program outside the
// repository does: scripts/consumer builds it in a scratch module that got
// github.com/mptcpx/mptcpx and github.com/mptcpx/mptcpx/mptcpxgrpc with
// `go get`, and runs it. It echoes bytes over a Multipath TCP connection on
// loopback, checks that the OpenTelemetry instrumentation ended one
// mptcp.connection span per side and recorded metrics, and makes one gRPC
// call over a mptcpx listener and dialer. It exits non-zero when anything
// fails.
package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/mptcpxgrpc"
	"github.com/mptcpx/mptcpx/mptcpxotel"
)

func main() {
	for _, check := range []struct {
		name string
		run  func(context.Context) error
	}{
		{"echo with telemetry", echo},
		{"gRPC", rpc},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := check.run(ctx)
		cancel()
		if err != nil {
			fmt.Fprintf(os.Stderr, "consumer: %s: %v\n", check.name, err)
			os.Exit(1)
		}
		fmt.Printf("consumer: %s: ok\n", check.name)
	}
}

// echo sends bytes to an echo server over mptcpx.Dial and mptcpx.Listen,
// both recording into an OpenTelemetry SDK, then checks the spans and the
// metrics.
func echo(ctx context.Context) error {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	telemetry := mptcpx.WithTelemetry(mptcpxotel.WithTracerProvider(tp), mptcpxotel.WithMeterProvider(mp))

	ln, err := mptcpx.Listen("tcp", "127.0.0.1:0", telemetry)
	if err != nil {
		return err
	}
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		_, err = io.Copy(c, c)
		if cerr := c.Close(); err == nil {
			err = cerr
		}
		served <- err
	}()

	c, err := mptcpx.Dial("tcp", ln.Addr().String(), telemetry)
	if err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok {
		c.SetDeadline(d)
	}
	msg := []byte("hello over Multipath TCP")
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("echo: got %q, want %q", got, msg)
	}
	if err := c.Close(); err != nil {
		return err
	}
	select {
	case err := <-served:
		if err != nil {
			return fmt.Errorf("server: %w", err)
		}
	case <-ctx.Done():
		return fmt.Errorf("server: %w", ctx.Err())
	}

	var roles []string
	for _, s := range spans.Ended() {
		if s.Name() != "mptcp.connection" {
			continue
		}
		for _, kv := range s.Attributes() {
			if kv.Key == attribute.Key("mptcp.role") {
				roles = append(roles, kv.Value.AsString())
			}
		}
	}
	slices.Sort(roles)
	if !slices.Equal(roles, []string{"client", "server"}) {
		return fmt.Errorf("ended mptcp.connection spans with mptcp.role %v, want one client and one server", roles)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		return err
	}
	var names []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			names = append(names, m.Name)
		}
	}
	if !slices.Contains(names, "mptcp.connection.duration") {
		return fmt.Errorf("metrics %v: no mptcp.connection.duration", names)
	}
	return nil
}

// rpc serves the gRPC health service on a mptcpx listener and calls it from
// a client that dials with mptcpx, through mptcpxgrpc's credentials.
func rpc(ctx context.Context) error {
	srv := grpc.NewServer(mptcpxgrpc.Creds(insecure.NewCredentials()))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	ln, err := mptcpx.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		srv.Stop()
		<-served
	}()

	cc, err := grpc.NewClient("passthrough:///"+ln.Addr().String(),
		mptcpxgrpc.WithDialer(nil),
		mptcpxgrpc.WithTransportCredentials(insecure.NewCredentials()),
	)
	if err != nil {
		return err
	}
	defer cc.Close()
	var p peer.Peer
	resp, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&p))
	if err != nil {
		return err
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("health: %v, want SERVING", resp.GetStatus())
	}
	if _, ok := mptcpxgrpc.ConnFromPeer(&p); !ok {
		return fmt.Errorf("the RPC's peer (%v) has no mptcpx connection", p.Addr)
	}
	return nil
}
