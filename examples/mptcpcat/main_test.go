package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mptcpx/mptcpx/internal/testenv"
)

// build compiles mptcpcat into a temporary directory.
func build(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		testenv.Skip(t, "the go command is not in PATH: "+err.Error())
	}
	bin := filepath.Join(t.TempDir(), "mptcpcat")
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// lockedBuffer collects a process's stderr while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestListenAndDial runs mptcpcat twice on loopback, as a listener and as a
// client, each with its own 3 MiB on stdin: each one's stdout must be
// exactly what the other read from stdin (both half-close when their stdin
// ends), and both must report the connection as MPTCP with its subflow on
// stderr.
func TestListenAndDial(t *testing.T) {
	testenv.RequireMPTCP(t)
	bin := build(t)

	toClient, toServer := make([]byte, 3<<20), make([]byte, 3<<20)
	rand.Read(toClient)
	rand.Read(toServer)

	server := exec.Command(bin, "-l", "-interval", "50ms", "127.0.0.1:0")
	server.Stdin = bytes.NewReader(toClient)
	var serverOut bytes.Buffer
	server.Stdout = &serverOut
	serverErr, err := server.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	// The listener prints its address first; keep draining its stderr
	// after that so that it never blocks on a full pipe.
	var serverLog lockedBuffer
	addr := make(chan string, 1)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		sc := bufio.NewScanner(serverErr)
		for sc.Scan() {
			line := sc.Text()
			serverLog.Write([]byte(line + "\n"))
			if a, ok := strings.CutPrefix(line, "mptcpcat: listening on "); ok {
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

	client := exec.Command(bin, "-interval", "50ms", a)
	client.Stdin = bytes.NewReader(toServer)
	var clientOut bytes.Buffer
	var clientLog lockedBuffer
	client.Stdout, client.Stderr = &clientOut, &clientLog
	clientErr := client.Run()
	<-drained
	serverErrWait := server.Wait()
	if err := errors.Join(clientErr, serverErrWait); err != nil {
		t.Fatalf("mptcpcat failed: %v\nclient stderr:\n%s\nserver stderr:\n%s", err, clientLog.String(), serverLog.String())
	}

	if !bytes.Equal(clientOut.Bytes(), toClient) {
		t.Errorf("the client's stdout: %d bytes, not the %d the listener read from stdin", clientOut.Len(), len(toClient))
	}
	if !bytes.Equal(serverOut.Bytes(), toServer) {
		t.Errorf("the listener's stdout: %d bytes, not the %d the client read from stdin", serverOut.Len(), len(toServer))
	}
	for name, log := range map[string]string{"client": clientLog.String(), "listener": serverLog.String()} {
		t.Logf("%s stderr:\n%s", name, log)
		for _, want := range []string{"mptcpcat: connected 127.0.0.1:", "  MPTCP  token 0x", "mptcpcat:   subflow 1  127.0.0.1:",
			"mptcpcat: summary: MPTCP token 0x", "mptcpcat:   path 1  127.0.0.1:"} {
			if !strings.Contains(log, want) {
				t.Errorf("%s stderr does not contain %q", name, want)
			}
		}
		if strings.Contains(log, "fallback") {
			t.Errorf("%s reports a fallback on an MPTCP loopback connection", name)
		}
	}
}

// TestFallbackReported dials a plain-TCP listener: mptcpcat must still
// carry the data and say that the connection fell back.
func TestFallbackReported(t *testing.T) {
	testenv.RequireMPTCP(t)
	bin := build(t)

	ln, err := listenPlain()
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c) // until mptcpcat half-closes
		got <- b
	}()

	cmd := exec.Command(bin, ln.Addr().String())
	cmd.Stdin = strings.NewReader("hello over plain TCP\n")
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	done := make(chan error, 1)
	go func() { done <- cmd.Run() }()
	if b := <-got; string(b) != "hello over plain TCP\n" {
		t.Errorf("the plain listener read %q", b)
	}
	if err := <-done; err != nil {
		t.Fatalf("mptcpcat: %v\n%s", err, stderr.String())
	}
	if log := stderr.String(); !strings.Contains(log, "plain TCP because the peer did not answer in MPTCP") || strings.Contains(log, "subflow") {
		t.Errorf("stderr should report a fallback and no subflow:\n%s", log)
	}
}

// TestUsage: a missing address is a usage error, exit code 2.
func TestUsage(t *testing.T) {
	bin := build(t)
	err := exec.Command(bin).Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Errorf("no address: got %v, want exit status 2", err)
	}
}
