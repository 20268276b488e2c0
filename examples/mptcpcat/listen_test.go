package main

import (
	"context"
	"net"
)

// listenPlain opens a loopback listener that answers in plain TCP only
// (since Go 1.24 net.Listen asks for MPTCP by default).
func listenPlain() (net.Listener, error) {
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	return lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
}
