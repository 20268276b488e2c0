package follow

import (
	"context"
	"io"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/testbed"
	"github.com/mptcpx/mptcpx/internal/testenv"
)

// bytesHooks counts the samples that reported bytes.
type bytesHooks struct {
	nopHooks
	withBytes atomic.Int64
}

func (h *bytesHooks) Sampled(s *conntrace.Sample) {
	if s.Sent+s.Received > 0 {
		h.withBytes.Add(1)
	}
}

// bedConns opens n MPTCP connections from the client namespace of a test
// bed to its server namespace, as a process whose peers are elsewhere
// sees them: the client's namespace holds the client ends only. It returns
// the client ends.
func bedConns(t *testing.T, n int) []*net.TCPConn {
	t.Helper()
	b := testbed.New(t, testbed.Config{Paths: 1})
	var ln net.Listener
	if err := b.Server.Do(func() (err error) {
		var lc net.ListenConfig
		lc.SetMultipathTCP(true)
		ln, err = lc.Listen(context.Background(), "tcp", ":0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			go io.Copy(io.Discard, c)
		}
	}()
	to := net.JoinHostPort(b.ServerAddr(0).String(), strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	cs := make([]*net.TCPConn, n)
	if err := b.Client.Do(func() error {
		var d net.Dialer
		d.SetMultipathTCP(true)
		for i := range cs {
			c, err := d.Dial("tcp", to)
			if err != nil {
				return err
			}
			cs[i] = c.(*net.TCPConn)
			t.Cleanup(func() { c.Close() })
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return cs
}

// TestIdleConnectionsDumped: with many idle connections in the namespace,
// they come due together and one sock_diag dump per interval checks them
// all, instead of one getsockopt each; a connection that moves is still
// seen within an interval or two, read in full, and its bytes reported.
func TestIdleConnectionsDumped(t *testing.T) {
	const n = 2 * minDump
	clients := bedConns(t, n)
	sm := NewScheduler()
	const interval = 50 * time.Millisecond
	fs := make([]*Follower, n)
	hooks := make([]*bytesHooks, n)
	for i, c := range clients {
		hooks[i] = &bytesHooks{}
		fs[i] = newTestFollower(sm, c, interval, hooks[i])
		fs[i].sample(new(scratch), true)
		sm.schedule(fs[i])
	}
	defer func() {
		for _, f := range fs {
			sm.unschedule(f)
		}
		waitStopped(t, sm)
	}()
	deadline := time.Now().Add(callTimeout)
	for sm.Stats().Dumps < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("no dumps after %v: %+v", callTimeout, sm.Stats())
		}
		time.Sleep(interval)
	}
	// The machine's pace in the same window: a loaded machine delays the
	// scheduler's wake-ups as it delays this baseline's.
	pace := testenv.StartPace(interval)
	before := sm.Stats()
	time.Sleep(10 * interval)
	after := sm.Stats()
	wakeups, _ := pace.Stop()
	dumps, covered, probes := after.Dumps-before.Dumps, after.Covered-before.Covered, after.Probes-before.Probes
	t.Logf("in 10 intervals (the baseline woke %d times): %d dumps covering %d checks, %d cheap readings, %d full readings", wakeups, dumps, covered, probes, after.FullReads-before.FullReads)
	if paced := uint64(min(10, wakeups)); dumps < max(1, paced/2) || dumps > 12 || covered < uint64(n)*dumps*8/10 {
		t.Errorf("%d dumps covering %d checks of %d idle connections in 10 intervals (the baseline woke %d times): want about one dump per interval covering them all", dumps, covered, n, wakeups)
	}
	if probes > covered/4 {
		t.Errorf("%d cheap readings beside %d checks by dump: the dump should answer most", probes, covered)
	}
	// One connection moves: its bytes are reported within a few intervals.
	moved := 7
	if _, err := clients[moved].Write(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	for hooks[moved].withBytes.Load() == 0 {
		if time.Since(deadline) > 0 {
			t.Fatal("the bytes written on an idle connection were never reported")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestForeignSocketsStopTheDump: a namespace holding many more MPTCP
// sockets of others than the process follows goes back to one reading per
// connection: the dump would cost more than it saves.
func TestForeignSocketsStopTheDump(t *testing.T) {
	const n = minDump
	foreign := testenv.IdleConns(t, 4*n) // both ends in this namespace: 8n sockets
	ours := foreign[:n]
	sm := NewScheduler()
	const interval = 50 * time.Millisecond
	var fs []*Follower
	for _, c := range ours {
		f := newTestFollower(sm, c, interval, &nopHooks{})
		f.sample(new(scratch), true)
		sm.schedule(f)
		fs = append(fs, f)
	}
	defer func() {
		for _, f := range fs {
			sm.unschedule(f)
		}
		waitStopped(t, sm)
	}()
	time.Sleep(20 * interval)
	st := sm.Stats()
	t.Logf("%+v", st)
	if st.Dumps > 2 {
		t.Errorf("%d dumps of a namespace where the process follows %d of %d MPTCP sockets: want the per-connection readings after the first", st.Dumps, n, 8*n)
	}
	if st.Probes < uint64(n)*10 {
		t.Errorf("%d cheap readings of %d connections in 20 intervals", st.Probes, n)
	}
}
