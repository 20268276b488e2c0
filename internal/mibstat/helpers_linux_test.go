package mibstat

import (
	"encoding/binary"
	"unsafe"

	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mptcpx/mptcpx/internal/testbed"
)

// waitTimeout bounds every wait for the kernel's asynchronous work: a
// deadline for giving up, not a measurement.
const waitTimeout = 20 * time.Second

// counters follows the MPTcpExt counters of one network namespace.
type counters struct {
	name   string
	r      *Reader
	before Snapshot
	now    Snapshot
}

// watch opens a Reader in ns (nil: the test process's namespace) and takes
// the first reading; the test's cleanup closes it.
func watch(t testing.TB, ns *testbed.NS) *counters {
	t.Helper()
	c := &counters{name: "host"}
	var err error
	if ns == nil {
		c.r, err = Open()
	} else {
		c.name = ns.Name()
		err = ns.Do(func() (err error) { c.r, err = Open(); return err })
	}
	if err != nil {
		t.Fatalf("Open in %s: %v", c.name, err)
	}
	t.Cleanup(func() { c.r.Close() })
	c.mark(t)
	return c
}

// mark takes the reading that later deltas start from.
func (c *counters) mark(t testing.TB) {
	t.Helper()
	if err := c.r.Read(&c.before); err != nil {
		t.Fatalf("Read in %s: %v", c.name, err)
	}
	c.now.CopyFrom(&c.before)
}

// read takes a new reading.
func (c *counters) read(t testing.TB) {
	t.Helper()
	if err := c.r.Read(&c.now); err != nil {
		t.Fatalf("Read in %s: %v", c.name, err)
	}
}

// delta returns how much counter c grew since mark, as of the last read,
// and whether the kernel has it.
func (c *counters) delta(ctr Counter) (uint64, bool) { return Delta(&c.before, &c.now, ctr) }

// moved lists every counter that changed since mark ("Name+3"), MPCurrEstab
// as its value.
func (c *counters) moved() string {
	var out []string
	for name, v := range c.now.All() {
		old, _ := c.before.Lookup(name)
		switch {
		case name == MPCurrEstab.String() && v != old:
			out = append(out, fmt.Sprintf("%s=%d", name, v))
		case v != old:
			out = append(out, fmt.Sprintf("%s+%d", name, v-old))
		}
	}
	slices.Sort(out)
	return c.name + ": " + strings.Join(out, " ")
}

// waitFor reads the counters until cond holds; it fails t on timeout,
// saying what moved.
func (c *counters) waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	err := testbed.WaitFor(waitTimeout, func() (bool, error) {
		c.read(t)
		return cond(), nil
	})
	if err != nil {
		t.Fatalf("%s: %v; %s", what, err, c.moved())
	}
}

// server is an MPTCP listener in a namespace that reads every connection
// it accepts until EOF.
type server struct {
	ln       net.Listener
	port     int
	accepted chan *net.TCPConn // every accepted connection
	wg       sync.WaitGroup
	mu       sync.Mutex
	cs       []net.Conn
}

// serve listens on every IPv4 address of ns with MPTCP; the test's cleanup
// closes the listener and the connections.
func serve(t testing.TB, ns *testbed.NS) *server {
	t.Helper()
	s := &server{accepted: make(chan *net.TCPConn, 64)}
	if err := ns.Do(func() (err error) {
		var lc net.ListenConfig
		lc.SetMultipathTCP(true)
		s.ln, err = lc.Listen(context.Background(), "tcp4", ":0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	s.port = s.ln.Addr().(*net.TCPAddr).Port
	s.wg.Go(func() {
		for {
			c, err := s.ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.cs = append(s.cs, c)
			s.mu.Unlock()
			select {
			case s.accepted <- c.(*net.TCPConn):
			default:
			}
			s.wg.Go(func() { io.Copy(io.Discard, c) })
		}
	})
	t.Cleanup(func() {
		s.ln.Close()
		s.mu.Lock()
		for _, c := range s.cs {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

// dial connects from ns to addr:port asking for MPTCP; the test's cleanup
// closes the connection.
func dial(t testing.TB, ns *testbed.NS, addr string, port int) *net.TCPConn {
	t.Helper()
	var c net.Conn
	if err := ns.Do(func() (err error) {
		d := net.Dialer{Timeout: waitTimeout}
		d.SetMultipathTCP(true)
		c, err = d.Dial("tcp4", net.JoinHostPort(addr, fmt.Sprint(port)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// exchange writes a little data so that the connection becomes fully
// established, which is when the path manager starts its work.
func exchange(t testing.TB, c net.Conn) {
	t.Helper()
	if _, err := c.Write([]byte("mptcpx")); err != nil {
		t.Fatal(err)
	}
}

// next returns the next connection the server accepted.
func (s *server) next(t testing.TB) *net.TCPConn {
	t.Helper()
	select {
	case c := <-s.accepted:
		return c
	case <-time.After(waitTimeout):
		t.Fatal("the server accepted no connection")
		return nil
	}
}

// sockState is what a socket says about itself after the handshake.
type sockState struct {
	Multipath bool       // (*net.TCPConn).MultipathTCP
	Protocol  int        // SO_PROTOCOL: 262 (IPPROTO_MPTCP) or 6 (IPPROTO_TCP)
	IsMPTCP   int        // getsockopt(SOL_TCP, TCP_IS_MPTCP), Linux 6.10+; -1 when it failed
	InfoErr   unix.Errno // errno of getsockopt(SOL_MPTCP, MPTCP_INFO), 0 on success
	InfoFlags uint32     // mptcpi_flags when MPTCP_INFO succeeded
}

func (s sockState) String() string {
	return fmt.Sprintf("MultipathTCP()=%v SO_PROTOCOL=%d TCP_IS_MPTCP=%d MPTCP_INFO errno=%d (%v) flags=%#x",
		s.Multipath, s.Protocol, s.IsMPTCP, int(s.InfoErr), s.InfoErr, s.InfoFlags)
}

// stateOf reads c's sockState.
func stateOf(t testing.TB, c *net.TCPConn) sockState {
	t.Helper()
	var st sockState
	st.Multipath, _ = c.MultipathTCP()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	err = rc.Control(func(fd uintptr) {
		st.Protocol, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PROTOCOL)
		if v, err := unix.GetsockoptInt(int(fd), unix.SOL_TCP, tcpIsMPTCP); err == nil {
			st.IsMPTCP = v
		} else {
			st.IsMPTCP = -1
		}
		var info [96]byte // struct mptcp_info since 6.10; shorter ones fit
		n := uint32(len(info))
		_, _, st.InfoErr = unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_MPTCP, mptcpInfo,
			uintptr(unsafe.Pointer(&info[0])), uintptr(unsafe.Pointer(&n)), 0)
		if st.InfoErr == 0 {
			st.InfoFlags = binary.NativeEndian.Uint32(info[8:12])
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// Socket options x/sys/unix does not define (include/uapi/linux/tcp.h,
// mptcp.h).
const (
	tcpIsMPTCP = 43 // TCP_IS_MPTCP
	mptcpInfo  = 1  // MPTCP_INFO
)

// want checks that counter ctr of c grew by exactly n, when the kernel has
// it.
func (c *counters) want(t testing.TB, ctr Counter, n uint64) {
	t.Helper()
	if d, ok := c.delta(ctr); ok && d != n {
		t.Errorf("%s: %v grew by %d, want %d; %s", c.name, ctr, d, n, c.moved())
	}
}

// wantPresent is want for a counter every kernel under test has.
func (c *counters) wantPresent(t testing.TB, ctr Counter, n uint64) {
	t.Helper()
	if !c.now.Has(ctr) {
		t.Errorf("%s: no %v counter", c.name, ctr)
		return
	}
	c.want(t, ctr, n)
}

// grew reports whether counter ctr of c grew by at least n.
func (c *counters) grew(ctr Counter, n uint64) bool {
	d, ok := c.delta(ctr)
	return ok && d >= n
}
