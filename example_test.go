package mptcpx_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/mptcpx/mptcpx"
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

func ExampleDial() {
	addr := echoServer()

	conn, err := mptcpx.Dial("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	// Dial returns a *mptcpx.Conn: every *net.TCPConn method is there.
	c := conn.(*mptcpx.Conn)
	io.WriteString(c, "hello")
	c.CloseWrite() // the server sees EOF and stops echoing
	reply, err := io.ReadAll(c)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", reply)
	// Output: hello
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

	tr := &http.Transport{}
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
	tr := &http.Transport{DialContext: d.DialContext}
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

// Info samples the kernel's MPTCP state now: one line per subflow.
func ExampleConn_Info() {
	conn, err := mptcpx.Dial("tcp", "127.0.0.1:8080")
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	s, err := conn.(*mptcpx.Conn).Info()
	if err != nil {
		log.Fatal(err) // for example mptcpinfo.ErrNotSupported outside Linux
	}
	if !s.MPTCP {
		fmt.Println("plain TCP; fell back from MPTCP:", s.Fallback)
		return
	}
	for _, sf := range s.Subflows {
		fmt.Printf("subflow %d: %v -> %v, rtt %v, %d bytes sent\n",
			sf.ID, sf.Local, sf.Remote, sf.RTT(), sf.BytesSent())
	}
}
