package integration_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/internal/netns"
	"github.com/mptcpx/mptcpx/internal/oteltest"
	"github.com/mptcpx/mptcpx/internal/testbed"
	"github.com/mptcpx/mptcpx/mptcpxotel"
)

// TestPathEventsLost: the kernel drops path events when they come faster
// than the process reads them (the watcher is held, its socket's buffer
// shrunk). The loss is counted, every connection of the namespace is read
// in full again, and the watcher carries on.
func TestPathEventsLost(t *testing.T) {
	if err := mptcpx.PathEvents(); err != nil {
		t.Skip("no path events here: ", err)
	}
	b := testbed.New(t, testbed.Config{Paths: 2})
	tel := oteltest.New(t)
	// Only events and their resamples: no periodic sample within the test.
	opts := []mptcpx.Option{mptcpx.WithTelemetry(mptcpxotel.WithTracerProvider(tel.TP), mptcpxotel.WithMeterProvider(tel.MP)), mptcpx.WithInterval(time.Hour)}
	var ln net.Listener
	if err := b.Server.Do(func() (err error) { ln, err = mptcpx.Listen("tcp", ":0", opts...); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var c net.Conn
	err := b.Client.Do(func() (err error) {
		c, err = mptcpx.NewDialer(nil, opts...).DialContext(context.Background(), "tcp", net.JoinHostPort(b.ServerAddr(0).String(), portOf(ln)))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c.Write([]byte("x"))
	waitActive(t, tel, 2)

	client := nsCookie(t, c)
	if err := netns.Default.SetReadBuffer(client, 1); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	held := make(chan struct{}, 1)
	// Block the client's watcher alone: the server's namespace has a
	// watcher of its own, which sees the same path changes and may well
	// deliver first.
	hook := func(from uint64) {
		if from != client {
			return
		}
		select {
		case held <- struct{}{}:
			<-release
		default:
		}
	}
	netns.TestDeliverHook.Store(&hook)
	defer netns.TestDeliverHook.Store(nil)
	lostBefore := mptcpx.PathEventsLost()
	for range 20 {
		if err := b.DeleteEndpoint(1); err != nil {
			t.Fatal(err)
		}
		if err := b.AddEndpoint(1); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.DeleteEndpoint(1); err != nil {
		t.Fatal(err)
	}
	<-held
	close(release)
	deadline := time.Now().Add(10 * time.Second)
	for mptcpx.PathEventsLost() == lostBefore && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if mptcpx.PathEventsLost() == lostBefore {
		t.Fatal("no loss reported after 40 events into a 2 KiB buffer")
	}
	// The last word is the path's deletion: the resample finds one subflow.
	waitActive(t, tel, 1)
	if err := b.AddEndpoint(1); err != nil {
		t.Fatal(err)
	}
	waitActive(t, tel, 2) // and the watcher still delivers
}

func portOf(ln net.Listener) string {
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	return p
}

// waitActive waits until the client's mptcp.subflow.active is n.
func waitActive(t *testing.T, tel *oteltest.Telemetry, n int64) {
	t.Helper()
	var got int64
	err := testbed.WaitFor(10*time.Second, func() (bool, error) {
		got = oteltest.Total(t, tel.Metrics(t), "mptcp.subflow.active", oteltest.RoleClient)
		return got == n, nil
	})
	if err != nil {
		t.Fatalf("mptcp.subflow.active{client} = %d, want %d: %v", got, n, err)
	}
}
