package probe

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mptcpx/mptcpx/internal/testenv"
)

// Socket option numbers (include/uapi/linux/mptcp.h, tcp.h).
const (
	solMPTCP          = 284
	mptcpInfo         = 1
	mptcpTCPInfo      = 2
	mptcpSubflowAddrs = 3
	mptcpFullInfo     = 4
	tcpIsMPTCP        = 43
	ipprotoMPTCP      = 262
)

// kernelVersion returns the running kernel's major and minor version.
func kernelVersion(t *testing.T) (int, int) {
	t.Helper()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatalf("uname: %v", err)
	}
	rel := unix.ByteSliceToString(u.Release[:])
	var major, minor int
	if _, err := fmt.Sscanf(rel, "%d.%d", &major, &minor); err != nil {
		t.Fatalf("cannot parse kernel release %q: %v", rel, err)
	}
	return major, minor
}

func atLeast(major, minor, wantMajor, wantMinor int) bool {
	return major > wantMajor || major == wantMajor && minor >= wantMinor
}

// feature prints a line the kernel matrix collects into its table.
func feature(t *testing.T, name, format string, args ...any) {
	t.Helper()
	t.Logf("MPTCPX-FEATURE %s=%s", name, fmt.Sprintf(format, args...))
}

// kernelLacksMPTCP reports whether the kernel was built without MPTCP, as
// Debian's 5.10 kernels are: socket(IPPROTO_MPTCP) fails with
// EPROTONOSUPPORT and there is no net.mptcp sysctl directory. Inside the
// kernel matrix (MPTCPX_KERNEL_MATRIX=1) such a kernel is an expected column,
// not a broken machine; anywhere else the tests require MPTCP as usual.
func kernelLacksMPTCP(t *testing.T) bool {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, ipprotoMPTCP)
	if err == nil {
		unix.Close(fd)
		return false
	}
	_, statErr := os.Stat("/proc/sys/net/mptcp")
	if os.Getenv("MPTCPX_KERNEL_MATRIX") == "1" && errors.Is(err, unix.EPROTONOSUPPORT) && os.IsNotExist(statErr) {
		return true
	}
	testenv.RequireMPTCP(t)
	return false
}

// mptcpPair returns both ends of an MPTCP connection over loopback, after a
// round trip of data in each direction.
func mptcpPair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	var lc net.ListenConfig
	lc.SetMultipathTCP(true)
	ln, err := lc.Listen(t.Context(), "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	var d net.Dialer
	d.SetMultipathTCP(true)
	c, err := d.DialContext(t.Context(), "tcp4", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	s := <-accepted
	if s == nil {
		c.Close()
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	roundTrip(t, c, s)
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// roundTrip sends a message each way and checks it arrives unchanged.
func roundTrip(t *testing.T, a, b net.Conn) {
	t.Helper()
	for _, p := range [][2]net.Conn{{a, b}, {b, a}} {
		msg := []byte("mptcpx kernel matrix probe")
		if _, err := p[0].Write(msg); err != nil {
			t.Fatalf("write: %v", err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(p[1], got); err != nil {
			t.Fatalf("read: %v", err)
		}
		if string(got) != string(msg) {
			t.Fatalf("read %q, want %q", got, msg)
		}
	}
}

// getsockopt calls getsockopt(fd, level, name, buf) and returns the length
// the kernel wrote back.
func getsockopt(c *net.TCPConn, level, name int, buf []byte) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	n := uint32(len(buf))
	var errno unix.Errno
	cerr := raw.Control(func(fd uintptr) {
		var p unsafe.Pointer
		if len(buf) > 0 {
			p = unsafe.Pointer(&buf[0])
		}
		_, _, errno = unix.Syscall6(unix.SYS_GETSOCKOPT, fd, uintptr(level), uintptr(name),
			uintptr(p), uintptr(unsafe.Pointer(&n)), 0)
	})
	if cerr != nil {
		return 0, cerr
	}
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

func errName(err error) string {
	var e unix.Errno
	if errors.As(err, &e) {
		if e == unix.EOPNOTSUPP { // same number as ENOTSUP, the name the kernel means
			return "EOPNOTSUPP"
		}
		return unix.ErrnoName(e)
	}
	return err.Error()
}

// TestKernelFeatureReport probes each SOL_MPTCP option on a healthy MPTCP
// connection and checks the answer against the kernel version that added it.
func TestKernelFeatureReport(t *testing.T) {
	if kernelLacksMPTCP(t) {
		// Go's MPTCP dialer and listener must fall back to plain TCP.
		c, _ := mptcpPair(t)
		proto, err := unix.GetsockoptInt(fdOf(t, c), unix.SOL_SOCKET, unix.SO_PROTOCOL)
		if err != nil || proto != unix.IPPROTO_TCP {
			t.Fatalf("SO_PROTOCOL = %d, %v; want TCP on a kernel without MPTCP", proto, err)
		}
		feature(t, "probe.mptcp_socket", "no (EPROTONOSUPPORT: built without MPTCP; Go falls back to TCP)")
		for _, name := range []string{"MPTCP_INFO", "MPTCP_TCPINFO", "MPTCP_SUBFLOW_ADDRS", "MPTCP_FULL_INFO", "TCP_IS_MPTCP"} {
			feature(t, "probe."+name, "no (built without MPTCP)")
		}
		return
	}
	major, minor := kernelVersion(t)
	c, _ := mptcpPair(t)

	proto, err := unix.GetsockoptInt(fdOf(t, c), unix.SOL_SOCKET, unix.SO_PROTOCOL)
	if err != nil || proto != ipprotoMPTCP {
		t.Fatalf("SO_PROTOCOL = %d, %v; want %d (the dialer asked for MPTCP)", proto, err, ipprotoMPTCP)
	}
	feature(t, "probe.mptcp_socket", "yes")

	// MPTCP_INFO: a getsockopt since 5.16.
	info := make([]byte, 256)
	n, err := getsockopt(c, solMPTCP, mptcpInfo, info)
	switch {
	case err == nil:
		feature(t, "probe.MPTCP_INFO", "%d bytes", n)
	case atLeast(major, minor, 5, 16):
		t.Errorf("MPTCP_INFO on %d.%d: %v", major, minor, err)
	default:
		feature(t, "probe.MPTCP_INFO", "no (%s)", errName(err))
	}

	// MPTCP_TCPINFO and MPTCP_SUBFLOW_ADDRS: header then array.
	for _, o := range []struct {
		name string
		opt  int
	}{{"probe.MPTCP_TCPINFO", mptcpTCPInfo}, {"probe.MPTCP_SUBFLOW_ADDRS", mptcpSubflowAddrs}} {
		buf := make([]byte, 16+4*512)
		putU32(buf[0:], 16)
		putU32(buf[12:], 512)
		_, err := getsockopt(c, solMPTCP, o.opt, buf)
		switch {
		case err == nil:
			num, size := getU32(buf[4:]), getU32(buf[8:])
			if num < 1 {
				t.Errorf("%s: %d subflows on an established connection", o.name, num)
			}
			feature(t, o.name, "yes (%d subflow(s) of %d bytes)", num, size)
		case atLeast(major, minor, 5, 16):
			t.Errorf("%s on %d.%d: %v", o.name, major, minor, err)
		default:
			feature(t, o.name, "no (%s)", errName(err))
		}
	}

	// MPTCP_FULL_INFO (6.5): arrays passed by user address, pinned here.
	{
		const slots = 4
		sfinfo := make([]byte, slots*264)
		tcpinfo := make([]byte, slots*512)
		full := make([]byte, 40+256)
		putU32(full[4:], 512)
		putU32(full[12:], 264)
		putU32(full[20:], slots)
		var pin runtime.Pinner
		pin.Pin(&sfinfo[0])
		pin.Pin(&tcpinfo[0])
		putU64(full[24:], uint64(uintptr(unsafe.Pointer(&sfinfo[0]))))
		putU64(full[32:], uint64(uintptr(unsafe.Pointer(&tcpinfo[0]))))
		n, err := getsockopt(c, solMPTCP, mptcpFullInfo, full)
		pin.Unpin()
		switch {
		case err == nil:
			feature(t, "probe.MPTCP_FULL_INFO", "yes (tcp_info %d bytes, %d subflow(s), mptcp_info %d bytes)",
				getU32(full[0:]), getU32(full[16:]), n-40)
		case atLeast(major, minor, 6, 5):
			t.Errorf("MPTCP_FULL_INFO on %d.%d: %v", major, minor, err)
		default:
			feature(t, "probe.MPTCP_FULL_INFO", "no (%s)", errName(err))
		}
	}

	// TCP_IS_MPTCP (6.10).
	v, err := unix.GetsockoptInt(fdOf(t, c), unix.SOL_TCP, tcpIsMPTCP)
	switch {
	case err == nil:
		if v != 1 {
			t.Errorf("TCP_IS_MPTCP = %d on an MPTCP connection", v)
		}
		feature(t, "probe.TCP_IS_MPTCP", "yes")
	case atLeast(major, minor, 6, 10):
		t.Errorf("TCP_IS_MPTCP on %d.%d: %v", major, minor, err)
	default:
		feature(t, "probe.TCP_IS_MPTCP", "no (%s)", errName(err))
	}
}

// fdOf returns the socket's descriptor; it stays valid while c is open.
func fdOf(t *testing.T, c *net.TCPConn) int {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd int
	if err := raw.Control(func(f uintptr) { fd = int(f) }); err != nil {
		t.Fatal(err)
	}
	return fd
}

func putU32(b []byte, v uint32) { *(*uint32)(unsafe.Pointer(&b[0])) = v }
func putU64(b []byte, v uint64) { *(*uint64)(unsafe.Pointer(&b[0])) = v }
func getU32(b []byte) uint32    { return *(*uint32)(unsafe.Pointer(&b[0])) }

// ipCmd runs ip(8) from iproute2 and fails the test on error.
func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// inNetns runs f on a thread that has joined the named network namespace;
// sockets f creates belong to it. The thread is never unlocked, so it ends
// with the goroutine instead of going back to the scheduler in the wrong
// namespace.
func inNetns(name string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open("/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			errc <- err
			return
		}
		errc <- f()
	}()
	return <-errc
}

// TestTwoPathTopology builds two namespaces joined by two veth pairs, lets
// the client's path manager add a subflow over the second pair and waits
// until the kernel reports it (through ss, which reads mptcp_info with
// sock_diag on every kernel since 5.9).
func TestTwoPathTopology(t *testing.T) {
	testenv.RequireRoot(t)
	if kernelLacksMPTCP(t) {
		feature(t, "probe.two_paths", "no (built without MPTCP)")
		return
	}
	if _, err := exec.LookPath("ip"); err != nil {
		testenv.Skip(t, "needs ip from iproute2")
	}
	id := strconv.Itoa(os.Getpid())
	cli, srv := "kmcli"+id, "kmsrv"+id
	ipCmd(t, "netns", "add", cli)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", cli).Run() })
	ipCmd(t, "netns", "add", srv)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", srv).Run() })
	for _, ns := range []string{cli, srv} {
		ipCmd(t, "-n", ns, "link", "set", "lo", "up")
		ipCmd(t, "-n", ns, "mptcp", "limits", "set", "subflows", "2", "add_addr_accepted", "2")
	}
	for i := 1; i <= 2; i++ {
		a, b := fmt.Sprintf("kmc%d", i), fmt.Sprintf("kms%d", i)
		ipCmd(t, "link", "add", a, "netns", cli, "type", "veth", "peer", "name", b, "netns", srv)
		ipCmd(t, "-n", cli, "addr", "add", fmt.Sprintf("10.91.%d.1/24", i), "dev", a)
		ipCmd(t, "-n", srv, "addr", "add", fmt.Sprintf("10.91.%d.2/24", i), "dev", b)
		ipCmd(t, "-n", cli, "link", "set", a, "up")
		ipCmd(t, "-n", srv, "link", "set", b, "up")
	}
	ipCmd(t, "-n", cli, "mptcp", "endpoint", "add", "10.91.2.1", "dev", "kmc2", "id", "2", "subflow")

	var ln net.Listener
	if err := inNetns(srv, func() (err error) {
		var lc net.ListenConfig
		lc.SetMultipathTCP(true)
		ln, err = lc.Listen(t.Context(), "tcp4", "10.91.1.2:0")
		return err
	}); err != nil {
		t.Fatalf("listen in %s: %v", srv, err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	var c net.Conn
	if err := inNetns(cli, func() (err error) {
		var d net.Dialer
		d.SetMultipathTCP(true)
		c, err = d.DialContext(t.Context(), "tcp4", ln.Addr().String())
		return err
	}); err != nil {
		t.Fatalf("dial from %s: %v", cli, err)
	}
	defer c.Close()
	s := <-accepted
	if s == nil {
		t.Fatal("accept failed")
	}
	defer s.Close()
	roundTrip(t, c, s)

	// The subflow over the second pair joins asynchronously; ss -M shows
	// "subflows:N" (extra subflows) once it has.
	deadline := time.Now().Add(30 * time.Second)
	for {
		n := ssSubflows(t, cli)
		if n >= 1 {
			feature(t, "probe.two_paths", "yes (%d extra subflow)", n)
			break
		}
		if time.Now().After(deadline) {
			out, _ := exec.Command("ss", "-N", cli, "-Mti").CombinedOutput()
			t.Fatalf("no extra subflow after 30s; ss -Mti:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	roundTrip(t, c, s)
}

// ssSubflows returns the largest "subflows:N" ss -M reports in namespace ns.
func ssSubflows(t *testing.T, ns string) int {
	t.Helper()
	out, err := exec.Command("ss", "-N", ns, "-Mi").CombinedOutput()
	if err != nil {
		t.Fatalf("ss -N %s -Mi: %v\n%s", ns, err, out)
	}
	best := 0
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		for _, f := range strings.Fields(sc.Text()) {
			if v, ok := strings.CutPrefix(f, "subflows:"); ok {
				if n, err := strconv.Atoi(v); err == nil && n > best {
					best = n
				}
			}
		}
	}
	return best
}
