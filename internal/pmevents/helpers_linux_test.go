package pmevents

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mptcpx/mptcpx/internal/testbed"
	"github.com/mptcpx/mptcpx/internal/testenv"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// waitTimeout bounds every wait for the kernel's asynchronous work. It is a
// deadline for giving up, not a measurement.
const waitTimeout = 20 * time.Second

// received is one event as a collector saw it, with the time Receive
// returned it.
type received struct {
	Event
	at time.Time
}

func (r received) String() string { return describe(&r.Event) }

// collector runs Receive in a goroutine and hands every event over a
// channel. It keeps the raw datagrams too (seeds for the fuzzer).
type collector struct {
	l      *Listener
	events chan received
	done   chan error

	mu      sync.Mutex
	raw     [][]byte
	errs    []error // non-fatal Receive errors (ErrLost, ErrMalformed)
	stopped bool
}

// openIn opens a Listener inside ns; the test's cleanup closes it.
func openIn(t testing.TB, ns *testbed.NS) *Listener {
	t.Helper()
	var l *Listener
	if err := ns.Do(func() (err error) { l, err = Open(); return err }); err != nil {
		t.Fatalf("Open in %s: %v", ns, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// collect starts receiving from l in the background; the test's cleanup
// closes l and waits for the goroutine to end.
func collect(t testing.TB, l *Listener) *collector {
	c := &collector{l: l, events: make(chan received, 4096), done: make(chan error, 1)}
	go func() {
		for {
			err := l.Receive(func(e *Event) {
				c.events <- received{Event: *e, at: time.Now()}
			})
			c.mu.Lock()
			start := 0
			for i := range l.n {
				c.raw = append(c.raw, append([]byte(nil), l.buf[start:l.ends[i]]...))
				start = l.ends[i]
			}
			if err != nil && (errors.Is(err, ErrLost) || errors.Is(err, ErrMalformed)) {
				c.errs = append(c.errs, err)
				err = nil
			}
			c.mu.Unlock()
			if err != nil {
				c.done <- err
				return
			}
		}
	}()
	t.Cleanup(func() {
		c.stop(t)
		c.capture(t)
	})
	return c
}

// captureEnv names a file to which collectors append every datagram they
// received, as "KIND HEX" lines: how the fuzzer's seeds (seeds_test.go)
// were captured from the test bed.
const captureEnv = "PMEVENTS_CAPTURE"

// capture appends the collector's datagrams to the file named by
// captureEnv, if set.
func (c *collector) capture(t testing.TB) {
	name := os.Getenv(captureEnv)
	if name == "" {
		return
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range c.raw {
		kind := "?"
		if len(b) > netlinkHeaderLen {
			kind = Kind(b[netlinkHeaderLen]).String()
		}
		fmt.Fprintf(f, "%s %s %s\n", t.Name(), kind, hex.EncodeToString(b))
	}
}

// stop closes the listener and waits for the receiving goroutine, which
// must end with net.ErrClosed.
func (c *collector) stop(t testing.TB) {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return
	}
	c.stopped = true
	c.mu.Unlock()
	c.l.Close()
	select {
	case err := <-c.done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Receive ended with %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("Receive still blocked 5s after Close")
	}
}

// next waits for the next event that matches, dropping others; it fails t
// on timeout, listing what it dropped.
func (c *collector) next(t testing.TB, what string, match func(*Event) bool) received {
	t.Helper()
	var skipped []string
	timeout := time.After(waitTimeout)
	for {
		select {
		case r := <-c.events:
			if match(&r.Event) {
				return r
			}
			skipped = append(skipped, r.String())
		case <-timeout:
			t.Fatalf("no %s within %v; events seen meanwhile:\n  %s", what, waitTimeout, strings.Join(skipped, "\n  "))
		}
	}
}

// drain returns the events that arrive within d.
func (c *collector) drain(d time.Duration) []received {
	var out []received
	timeout := time.After(d)
	for {
		select {
		case r := <-c.events:
			out = append(out, r)
		case <-timeout:
			return out
		}
	}
}

// kindOf matches events of kind k for token.
func kindOf(k Kind, token uint32) func(*Event) bool {
	return func(e *Event) bool { return e.Kind == k && e.Token == token }
}

// newBed creates a test bed; the test skips without root (fails with
// MPTCPX_STRICT=1).
func newBed(t *testing.T, cfg testbed.Config) *testbed.Bed {
	t.Helper()
	testenv.RequireRoot(t)
	return testbed.New(t, cfg)
}

// server is an MPTCP listener in the bed's server namespace that accepts
// connections in the background, reads each until EOF and then closes it.
type server struct {
	ln       net.Listener
	port     uint16
	accepted chan *net.TCPConn // every accepted connection, also kept in conns

	mu     sync.Mutex
	conns  []net.Conn
	closed bool
	wg     sync.WaitGroup
}

// serve listens on every address of the server namespace (IPv4 only, or
// IPv6 only with v6). The test's cleanup closes the listener and every
// connection it accepted.
func serve(t testing.TB, bed *testbed.Bed, v6 bool) *server {
	t.Helper()
	if v6 {
		return serveOn(t, bed, "tcp6")
	}
	return serveOn(t, bed, "tcp4")
}

// serveOn is serve for a network of net.Listen: "tcp4", "tcp6", or "tcp"
// (a dual-stack IPv6 socket).
func serveOn(t testing.TB, bed *testbed.Bed, network string) *server {
	t.Helper()
	s := &server{accepted: make(chan *net.TCPConn, 256)}
	err := bed.Server.Do(func() (err error) {
		var lc net.ListenConfig
		lc.SetMultipathTCP(true)
		s.ln, err = lc.Listen(context.Background(), network, ":0")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	s.port = uint16(s.ln.Addr().(*net.TCPAddr).Port)
	s.wg.Go(func() {
		for {
			c, err := s.ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			if s.closed {
				s.mu.Unlock()
				c.Close()
				return
			}
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			select {
			case s.accepted <- c.(*net.TCPConn):
			default:
			}
			s.wg.Go(func() {
				io.Copy(io.Discard, c)
				c.Close() // the client closed: close too, ending the connection
			})
		}
	})
	t.Cleanup(s.close)
	return s
}

// close closes the listener and every accepted connection and waits for
// the goroutines. It is idempotent.
func (s *server) close() {
	s.ln.Close()
	s.mu.Lock()
	s.closed = true
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// accept returns the next accepted connection.
func (s *server) accept(t testing.TB) *net.TCPConn {
	t.Helper()
	select {
	case c := <-s.accepted:
		return c
	case <-time.After(waitTimeout):
		t.Fatal("no connection accepted")
		return nil
	}
}

// dial connects from the client namespace to the server's path-0 address;
// the test's cleanup closes the connection.
func dial(t testing.TB, bed *testbed.Bed, port uint16) *net.TCPConn {
	t.Helper()
	var c net.Conn
	err := bed.Client.Do(func() (err error) {
		var d net.Dialer
		d.SetMultipathTCP(true)
		c, err = d.Dial("tcp", netip.AddrPortFrom(bed.ServerAddr(0), port).String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// tokenOf reads the connection's MPTCP token (mptcp_info.token).
func tokenOf(t testing.TB, c *net.TCPConn) uint32 {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var r mptcpinfo.Reader
	var s mptcpinfo.Snapshot
	if err := r.Read(rc, &s); err != nil {
		t.Fatal(err)
	}
	if !s.MPTCP {
		t.Fatal("the connection fell back to TCP")
	}
	return s.Info.Token
}
