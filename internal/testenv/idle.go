package testenv

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// idlePeerEnv makes a test binary an MPTCP server that accepts connections
// and holds them open until its standard input closes (RunWithoutLeaks
// turns into it). The many-connection benchmarks run it as a separate
// process, so that the server ends of 10,000 connections do not count
// against the benchmark's own limit of open files.
const idlePeerEnv = "MPTCPX_IDLE_PEER"

// serveIdle is the peer process.
func serveIdle() {
	var lc net.ListenConfig
	lc.SetMultipathTCP(true)
	address := "127.0.0.1:0"
	if a := os.Getenv(idlePeerEnv + "_ADDR"); a != "" {
		address = a
	}
	ln, err := lc.Listen(context.Background(), "tcp", address)
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

// IdlePeer starts the peer process (the test binary, whose TestMain must be
// RunWithoutLeaks) on loopback and returns its address; it ends with tb.
func IdlePeer(tb testing.TB) string { return IdlePeerIn(tb, "", "127.0.0.1:0") }

// IdlePeerIn starts the peer process in the network namespace named netns
// (ip netns exec; "" for the test's own), listening on address, and returns
// the address it listens on; it ends with tb.
func IdlePeerIn(tb testing.TB, netns, address string) string {
	tb.Helper()
	RequireMPTCP(tb)
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(exe)
	if netns != "" {
		cmd = exec.Command("ip", "netns", "exec", netns, exe)
	}
	cmd.Env = append(os.Environ(), idlePeerEnv+"=1", idlePeerEnv+"_ADDR="+address)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { stdin.Close(); cmd.Wait() })
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		tb.Fatal(err)
	}
	return strings.TrimSpace(addr)
}
