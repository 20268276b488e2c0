package mptcpx_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
)

// idleServerEnv makes the test binary an MPTCP server that accepts
// connections and holds them open until its standard input closes. The
// many-connection benchmarks run it as a separate process, so the server
// ends of 10,000 connections do not count against the benchmark's own limit
// of open files.
const idleServerEnv = "MPTCPX_IDLE_SERVER"

func serveIdle() {
	var lc net.ListenConfig
	lc.SetMultipathTCP(true)
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr())
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				// Until the client closes: busy benchmark connections send.
				io.Copy(io.Discard, c)
				c.Close()
			}()
		}
	}()
	bufio.NewReader(os.Stdin).ReadString('\n')
	os.Exit(0)
}
