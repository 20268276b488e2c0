package main

import (
	"bufio"
	"bytes"
	"io"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/testbed"
	"github.com/mptcpx/mptcpx/internal/testenv"
)

// TestRemedyFilled: the command that adds an endpoint names this host's
// other addresses of the connection's family, with their interfaces.
func TestRemedyFilled(t *testing.T) {
	addrs := []hostAddr{
		{netip.MustParseAddr("10.0.0.1"), "eth0"},
		{netip.MustParseAddr("fd00::1"), "eth0"},
		{netip.MustParseAddr("192.168.1.20"), "wlan0"},
	}
	local := netip.MustParseAddr("10.0.0.1")
	for _, tc := range []struct {
		d     conntrace.PathsDiagnosis
		addrs []hostAddr
		want  string
	}{
		{conntrace.PathsDiagnosis{Limit: conntrace.PathsLimitNoEndpoint}, addrs,
			"ip mptcp endpoint add 192.168.1.20 dev wlan0 subflow"},
		{conntrace.PathsDiagnosis{Limit: conntrace.PathsLimitNoEndpoint, Role: conntrace.RoleServer}, addrs,
			"ip mptcp endpoint add 192.168.1.20 dev wlan0 signal"},
		{conntrace.PathsDiagnosis{Limit: conntrace.PathsLimitNoEndpoint}, addrs[:2],
			"ip mptcp endpoint add ADDR dev IF subflow (ADDR: another address of this host, IF: its interface; this host has no other IPv4 address)"},
		{conntrace.PathsDiagnosis{Limit: conntrace.PathsLimitSubflowsMax}, addrs,
			"ip mptcp limits set subflows 2"},
	} {
		if got := remedy(tc.d, local, tc.addrs); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.d.Limit, got, tc.want)
		}
	}
}

// TestPathsExplained runs mptcpcat in a two-path bed whose hosts have no
// endpoint: the client says why its connection has one path and prints
// the command that adds its second address as an endpoint; the listener
// the one that adds a signal endpoint.
func TestPathsExplained(t *testing.T) {
	testenv.RequireMPTCP(t)
	if testenv.KernelMatrix() {
		t.Skip("builds mptcpcat with the go command, which the kernel matrix's virtual machines lack")
	}
	bin := build(t)
	b := testbed.New(t, testbed.Config{Paths: 2, NoEndpoints: true})

	server := exec.Command(bin, "-l", "-interval", "100ms", b.ServerAddr(0).String()+":0")
	server.Stdin = bytes.NewReader(bytes.Repeat([]byte("x"), 1<<20))
	serverErr, err := server.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Server.Do(server.Start); err != nil {
		t.Fatal(err)
	}
	var serverLog lockedBuffer
	addr := make(chan string, 1)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		sc := bufio.NewScanner(serverErr)
		for sc.Scan() {
			serverLog.Write([]byte(sc.Text() + "\n"))
			if a, ok := strings.CutPrefix(sc.Text(), "mptcpcat: listening on "); ok {
				addr <- a
			}
		}
		close(addr)
	}()
	a, ok := <-addr
	if !ok {
		<-drained
		server.Wait()
		t.Fatalf("the listener printed no address:\n%s", serverLog.String())
	}
	// Long enough a transfer for the diagnosis to settle.
	client := exec.Command(bin, "-interval", "100ms", a)
	client.Stdin = &slowReader{n: 40}
	var clientLog lockedBuffer
	client.Stderr = &clientLog
	if err := b.Client.Do(client.Run); err != nil {
		t.Fatalf("client: %v\n%s", err, clientLog.String())
	}
	<-drained
	if err := server.Wait(); err != nil {
		t.Fatalf("listener: %v\n%s", err, serverLog.String())
	}
	t.Logf("client:\n%s\nlistener:\n%s", clientLog.String(), serverLog.String())
	for _, want := range []string{
		"mptcpcat: paths: no_endpoint: one path: this side has no MPTCP subflow endpoint",
		"mptcpcat: to change it: ip mptcp endpoint add " + b.ClientAddr(1).String() + " dev " + testbed.Iface(1) + " subflow",
	} {
		if !strings.Contains(clientLog.String(), want) {
			t.Errorf("the client's stderr does not say %q", want)
		}
	}
	if want := "mptcpcat: to change it: ip mptcp endpoint add " + b.ServerAddr(1).String() + " dev " + testbed.Iface(1) + " signal"; !strings.Contains(serverLog.String(), want) {
		t.Errorf("the listener's stderr does not say %q", want)
	}
}

// slowReader gives n chunks of 1 KiB, 20 ms apart, then EOF.
type slowReader struct{ n int }

func (r *slowReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	r.n--
	time.Sleep(20 * time.Millisecond)
	return copy(p, bytes.Repeat([]byte("y"), 1024)), nil
}
