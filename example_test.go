package mptcpx_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/mptcpxotel"
)

// echoServer listens on loopback, echoes one connection and returns its
// address.
func echoServer() string {
	ln, err := mptcpx.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		defer ln.Close()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	return ln.Addr().String()
}

// Dial is net.Dial with MPTCP: the net.Conn it returns is used as any
// other.
func ExampleDial() {
	addr := echoServer()

	conn, err := mptcpx.Dial("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	io.WriteString(conn, "hello")
	reply := make([]byte, len("hello"))
	if _, err := io.ReadFull(conn, reply); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", reply)
	// Output: hello
}

// DialConn returns the *mptcpx.Conn itself, with every method of
// *net.TCPConn (CloseWrite here) and those of mptcpx (Info,
// FallbackReason).
func ExampleDialConn() {
	addr := echoServer()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := mptcpx.DialConn(ctx, "tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	io.WriteString(c, "hello")
	c.CloseWrite() // the server sees EOF and stops echoing
	reply, err := io.ReadAll(c)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", reply)
	// Output: hello
}

// AcceptConn returns the next connection as a *mptcpx.Conn.
func ExampleListener_AcceptConn() {
	ln, err := mptcpx.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()

	go func() {
		c, err := mptcpx.Dial("tcp", ln.Addr().String())
		if err != nil {
			log.Fatal(err)
		}
		io.WriteString(c, "hello")
		c.Close()
	}()

	c, err := ln.AcceptConn()
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	msg, err := io.ReadAll(c)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("received %q\n", msg)
	// Output: received "hello"
}

func ExampleNewListener() {
	// Any listener can be wrapped; this one asks the kernel for MPTCP.
	var lc net.ListenConfig
	lc.SetMultipathTCP(true)
	inner, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}

	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s", r.URL.Path)
	})}
	go srv.Serve(mptcpx.NewListener(inner)) // Serve closes the listener
	defer srv.Close()

	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("http://" + inner.Addr().String() + "/mptcp")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, string(body))
	// Output: 200 OK hello from /mptcp
}

// An http.Client whose connections are MPTCP: a clone of
// http.DefaultTransport, so that HTTP/2, proxies from the environment and
// the default timeouts stay, with the Dialer's DialContext.
func ExampleNewDialer() {
	ln, err := mptcpx.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	})}
	go srv.Serve(ln)
	defer srv.Close()

	// Every field of the base net.Dialer applies; MPTCP is requested on
	// top of it.
	d := mptcpx.NewDialer(&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second},
		mptcpx.WithInterval(time.Second))
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = d.DialContext
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}

	resp, err := client.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, string(body))
	// Output: 200 OK hello
}

// With ConnContext in the http.Server, a handler finds the connection its
// request came on with FromContext, and reads its MPTCP state.
func ExampleConnContext() {
	ln, err := mptcpx.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{
		ConnContext: mptcpx.ConnContext,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, ok := mptcpx.FromContext(r.Context())
			if !ok {
				http.Error(w, "not a connection of mptcpx", http.StatusInternalServerError)
				return
			}
			// c.Info() reads its subflows now; MultipathTCP says whether
			// it is MPTCP, FallbackReason why not.
			fmt.Fprintf(w, "connection from %s followed", c.RemoteAddr().(*net.TCPAddr).IP)
		}),
	}
	go srv.Serve(ln)
	defer srv.Close()

	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(string(body))
	// Output: connection from 127.0.0.1 followed
}

// Info samples the kernel's MPTCP state now: one line per subflow.
func ExampleConn_Info() {
	c, err := mptcpx.DialConn(context.Background(), "tcp", "127.0.0.1:8080")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	s, err := c.Info()
	if err != nil {
		log.Fatal(err) // for example mptcpinfo.ErrNotSupported outside Linux
	}
	if !s.MPTCP {
		fmt.Println("plain TCP:", c.FallbackReason())
		return
	}
	for _, sf := range s.Subflows {
		fmt.Printf("subflow %d: %v -> %v, rtt %v, %d bytes sent\n",
			sf.ID, sf.Local, sf.Remote, sf.RTT(), sf.BytesSent())
	}
}

// FallbackReason tells why a connection is plain TCP: its String is the
// mptcp.fallback.reason of the telemetry.
func ExampleConn_FallbackReason() {
	c, err := mptcpx.DialConn(context.Background(), "tcp", "example.net:80")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	switch c.FallbackReason() {
	case conntrace.FallbackNone:
		fmt.Println("MPTCP")
	case conntrace.FallbackUnavailable:
		fmt.Println("this host cannot open MPTCP sockets: sysctl net.mptcp.enabled=1")
	default:
		fmt.Println("plain TCP:", c.FallbackReason()) // not_negotiated, mid_connection
	}
}

// endLogger is a conntrace.Hooks that says how each dialed connection
// ended. Embedding NopHooks and NopConnHooks, it implements only the hooks
// it uses, and keeps compiling when hooks are added.
type endLogger struct {
	conntrace.NopHooks
	closed chan struct{}
}

func (l endLogger) DialStart(ctx context.Context, d conntrace.DialStart) (context.Context, conntrace.ConnHooks) {
	fmt.Println("dialing over", d.Network)
	return ctx, &connEndLogger{closed: l.closed}
}

type connEndLogger struct {
	conntrace.NopConnHooks
	closed chan struct{}
	end    conntrace.End
}

func (c *connEndLogger) Sampled(s *conntrace.Sample) {
	if s.Final {
		c.end = s.End
	}
}

func (c *connEndLogger) Closed(time.Time) {
	fmt.Println("ended by", c.end)
	close(c.closed)
}

// Hooks of a program's own (endLogger embeds NopHooks and NopConnHooks)
// follow every connection of a Dialer or Listener, beside the
// OpenTelemetry instrumentation.
func ExampleWithHooks_endReason() {
	addr := echoServer()

	closed := make(chan struct{})
	d := mptcpx.NewDialer(nil, mptcpx.WithHooks(endLogger{closed: closed}))
	c, err := d.Dial("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	c.Close()
	<-closed // Closed may come right after Close returns, from the sampler
	// Output:
	// dialing over tcp
	// ended by close
}

// The instrumentation records through providers of the program's own,
// with per-peer metric series, for a listener's connections.
func ExampleWithTelemetry() {
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	defer mp.Shutdown(context.Background())

	ln, err := mptcpx.Listen("tcp", ":8080", mptcpx.WithTelemetry(
		mptcpxotel.WithTracerProvider(tp),
		mptcpxotel.WithMeterProvider(mp),
		mptcpxotel.WithPeerAttributes(),
	))
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(http.Serve(ln, nil))
}
