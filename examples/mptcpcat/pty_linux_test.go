package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mptcpx/mptcpx/internal/testenv"
)

// openPTY opens a pseudo-terminal and returns its two ends: what a program
// reading from a terminal has on its standard input, and the other end.
func openPTY(t *testing.T) (terminal, master *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, m
}

// TestListenerExitsWhenDone is the README's use: the listener in one
// terminal, its output to a file, the client sending a file. The listener
// is done when the client's data ends: it does not wait for its terminal,
// which never ends, and says what each path carried.
func TestListenerExitsWhenDone(t *testing.T) {
	testenv.RequireMPTCP(t)
	bin := build(t)
	terminal, _ := openPTY(t)
	data := make([]byte, 1<<20)
	rand.Read(data)

	server := exec.Command(bin, "-l", "-interval", "0", "127.0.0.1:0")
	server.Stdin = terminal
	var serverOut bytes.Buffer
	server.Stdout = &serverOut
	serverErr, err := server.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	var serverLog lockedBuffer
	addr := make(chan string, 1)
	go func() {
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
		server.Wait()
		t.Fatalf("the listener printed no address:\n%s", serverLog.String())
	}
	client := exec.Command(bin, "-interval", "0", a)
	client.Stdin = bytes.NewReader(data)
	var clientLog lockedBuffer
	client.Stderr = &clientLog
	done := make(chan error, 1)
	go func() { done <- errors.Join(client.Run(), server.Wait()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("mptcpcat: %v\nclient:\n%s\nlistener:\n%s", err, clientLog.String(), serverLog.String())
		}
	case <-time.After(30 * time.Second):
		server.Process.Kill()
		client.Process.Kill()
		t.Fatalf("still running 30 s after the transfer: the listener waits for its terminal\nlistener:\n%s", serverLog.String())
	}
	if !bytes.Equal(serverOut.Bytes(), data) {
		t.Errorf("the listener wrote %d bytes, the client sent %d", serverOut.Len(), len(data))
	}
	log := serverLog.String()
	t.Logf("listener stderr:\n%s", log)
	if !strings.Contains(log, "mptcpcat:   path 1  127.0.0.1:") || !strings.Contains(log, "received 1.0 MiB") {
		t.Error("the listener's summary does not show path 1 with the 1 MiB it received")
	}
}
