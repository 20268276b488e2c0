package mptcpx_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/internal/testenv"
	"github.com/mptcpx/mptcpx/mptcpxotel"
)

// echoOnce accepts one connection on ln, echoes it until EOF and closes it.
// The returned channel receives the server-side connection's MultipathTCP
// report, then is closed.
func echoOnce(t *testing.T, ln net.Listener) <-chan bool {
	t.Helper()
	mptcp := make(chan bool, 1)
	go func() {
		defer close(mptcp)
		c, err := ln.Accept()
		if err != nil {
			t.Errorf("Accept: %v", err)
			return
		}
		defer c.Close()
		ok, _ := c.(interface{ MultipathTCP() (bool, error) }).MultipathTCP()
		mptcp <- ok
		io.Copy(c, c)
	}()
	return mptcp
}

// roundTrip writes a message on c, half-closes it and expects the echo.
func roundTrip(t *testing.T, c net.Conn) {
	t.Helper()
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "hello" {
		t.Fatalf("echo: %q, %v", got, err)
	}
}

func TestDial(t *testing.T) {
	testenv.CheckSockets(t)
	testenv.RequireMPTCP(t)
	ln, err := mptcpx.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, dial := range []struct {
		name string
		f    func(network, address string) (net.Conn, error)
	}{
		{"Dial", func(n, a string) (net.Conn, error) { return mptcpx.Dial(n, a) }},
		{"DialContext", func(n, a string) (net.Conn, error) { return mptcpx.DialContext(context.Background(), n, a) }},
		{"Dialer.Dial", mptcpx.NewDialer(nil).Dial},
		{"Dialer.DialContext", func(n, a string) (net.Conn, error) {
			return mptcpx.NewDialer(&net.Dialer{Timeout: time.Minute}).DialContext(context.Background(), n, a)
		}},
	} {
		t.Run(dial.name, func(t *testing.T) {
			serverMPTCP := echoOnce(t, ln)
			c, err := dial.f("tcp4", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			mc, ok := c.(*mptcpx.Conn)
			if !ok {
				t.Fatalf("%s returned %T, want *mptcpx.Conn", dial.name, c)
			}
			if ok, err := mc.MultipathTCP(); !ok || err != nil {
				t.Errorf("client MultipathTCP() = %v, %v; want true", ok, err)
			}
			roundTrip(t, c)
			if !<-serverMPTCP {
				t.Error("server side: MultipathTCP() = false, want true")
			}
		})
	}
}

// TestDialBadNetwork checks that a network MPTCP cannot run on is refused
// with an error naming it, before anything is resolved or opened.
func TestDialBadNetwork(t *testing.T) {
	testenv.CheckSockets(t)
	opened := false
	base := &net.Dialer{Control: func(string, string, syscall.RawConn) error {
		opened = true
		return nil
	}}
	d := mptcpx.NewDialer(base, mptcpx.WithoutPathEvents()) // no watcher opened ahead meanwhile: sockets are counted
	for _, network := range []string{"udp", "udp4", "unix", "unixpacket", "ip", "ip4:icmp", "", "garbage", "TCP"} {
		before := testenv.OpenSockets(t)
		c, err := d.Dial(network, "127.0.0.1:9")
		if err == nil {
			c.Close()
			t.Errorf("Dial(%q) succeeded", network)
			continue
		}
		var op *net.OpError
		if !errors.As(err, &op) || op.Op != "dial" || op.Net != network {
			t.Errorf("Dial(%q): %#v, want a dial *net.OpError", network, err)
		}
		if !strings.Contains(err.Error(), `"`+network+`"`) {
			t.Errorf("Dial(%q): error %q does not name the network", network, err)
		}
		if after := testenv.OpenSockets(t); after != before {
			t.Errorf("Dial(%q) left %d file descriptors open", network, after-before)
		}
	}
	if _, err := mptcpx.Dial("udp", "127.0.0.1:9"); err == nil || !strings.Contains(err.Error(), `"udp"`) {
		t.Errorf("mptcpx.Dial(udp): %v", err)
	}
	if opened {
		t.Error("a socket was opened for an unsupported network")
	}
}

func TestDialBadInterval(t *testing.T) {
	testenv.CheckSockets(t)
	opened := false
	base := &net.Dialer{Control: func(string, string, syscall.RawConn) error {
		opened = true
		return nil
	}}
	for _, d := range []time.Duration{0, -time.Second, time.Nanosecond, time.Millisecond - 1} {
		c, err := mptcpx.NewDialer(base, mptcpx.WithInterval(d)).Dial("tcp", "127.0.0.1:9")
		if err == nil {
			c.Close()
			t.Fatalf("WithInterval(%v): Dial succeeded", d)
		}
		if !strings.Contains(err.Error(), "WithInterval("+d.String()+")") || !strings.Contains(err.Error(), "at least 1ms") {
			t.Errorf("WithInterval(%v): unclear error %q", d, err)
		}
	}
	if opened {
		t.Error("a socket was opened despite an invalid option")
	}
	// A valid interval and nil providers are accepted.
	testenv.RequireMPTCP(t)
	ln, err := mptcpx.Listen("tcp", "127.0.0.1:0", mptcpx.WithInterval(time.Millisecond), mptcpx.WithTelemetry(mptcpxotel.WithTracerProvider(nil), mptcpxotel.WithMeterProvider(nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	echoOnce(t, ln)
	c, err := mptcpx.NewDialer(nil, mptcpx.WithInterval(time.Hour), mptcpx.WithTelemetry(mptcpxotel.WithTracerProvider(nil), mptcpxotel.WithMeterProvider(nil))).Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, c)
}

// TestDialerHonoursBase checks that the base net.Dialer's fields apply and
// that NewDialer does not change the caller's dialer.
func TestDialerHonoursBase(t *testing.T) {
	testenv.CheckSockets(t)
	testenv.RequireMPTCP(t)
	ln, err := mptcpx.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	var controlled []string
	base := &net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)},
		KeepAlive: -1,
		Control: func(network, address string, _ syscall.RawConn) error {
			controlled = append(controlled, network+" "+address)
			return nil
		},
	}
	d := mptcpx.NewDialer(base)
	if base.MultipathTCP() {
		t.Error("NewDialer turned on MPTCP in the caller's net.Dialer")
	}
	base.LocalAddr = nil // later changes must not affect d

	echoOnce(t, ln)
	c, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ip := c.LocalAddr().(*net.TCPAddr).IP; !ip.Equal(net.IPv4(127, 0, 0, 2)) {
		t.Errorf("local address %v, want the base dialer's 127.0.0.2", ip)
	}
	if len(controlled) != 1 || controlled[0] != "tcp4 "+ln.Addr().String() {
		t.Errorf("base Control calls: %q, want one for tcp4 %s", controlled, ln.Addr())
	}
	roundTrip(t, c)

	// A Control error aborts the dial, as with net.Dialer.
	errControl := errors.New("refused by Control")
	d = mptcpx.NewDialer(&net.Dialer{Control: func(string, string, syscall.RawConn) error { return errControl }})
	if _, err := d.Dial("tcp", ln.Addr().String()); !errors.Is(err, errControl) {
		t.Errorf("Dial with a failing Control: %v, want %v", err, errControl)
	}
}

func TestDialContextCanceled(t *testing.T) {
	testenv.CheckSockets(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := mptcpx.NewDialer(nil).DialContext(ctx, "tcp", "127.0.0.1:9")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("DialContext with a canceled context: %v, want context.Canceled", err)
	}
	// A dial that fails (nothing listens on a port just released).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, err := mptcpx.Dial("tcp", addr); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Dial to a closed port: %v, want ECONNREFUSED", err)
	}
}

// TestDialPlainTCPServer dials a server that does not speak MPTCP: the
// connection works as plain TCP and says so.
func TestDialPlainTCPServer(t *testing.T) {
	testenv.CheckSockets(t)
	ln := plainListen(t)
	serverMPTCP := echoOnce(t, ln)
	c, err := mptcpx.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ok, err := c.(*mptcpx.Conn).MultipathTCP(); ok || err != nil {
		t.Errorf("MultipathTCP() = %v, %v; want false (plain TCP server)", ok, err)
	}
	t.Run("Info", func(t *testing.T) {
		testenv.RequireMPTCP(t)
		snap, err := c.(*mptcpx.Conn).Info()
		if err != nil {
			t.Fatalf("Info on a fallback connection: %v", err)
		}
		if snap.MPTCP || !snap.Fallback {
			t.Errorf("Info: MPTCP %v, Fallback %v; want a fallback", snap.MPTCP, snap.Fallback)
		}
	})
	roundTrip(t, c)
	if <-serverMPTCP {
		t.Error("plain TCP server: MultipathTCP() = true")
	}
}
