package pmconfig

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/mptcpx/mptcpx/internal/testbed"
	"github.com/mptcpx/mptcpx/internal/testenv"
)

// feature prints a line for the kernel matrix's table
// (scripts/kernelmatrix/README.md).
func feature(name, value string) { fmt.Printf("MPTCPX-FEATURE %s=%s\n", name, value) }

// inFreshNamespace runs fn on a thread moved into a new, empty network
// namespace (unshare(2), which needs root). The thread is never given back:
// it exits with its goroutine and the namespace disappears with it.
func inFreshNamespace(t *testing.T, fn func() error) {
	t.Helper()
	testenv.RequireRoot(t)
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread must not be reused
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("unshare(CLONE_NEWNET): %w", err)
			return
		}
		done <- fn()
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// run runs a command on the calling thread (so in its namespace) and
// returns its output.
func run(args ...string) (string, error) {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// TestFreshNamespace reads a namespace nobody configured: no endpoints,
// the kernel's default limits (compared with what `ip mptcp limits` says
// there) and its sysctls (compared with the files read by cat).
func TestFreshNamespace(t *testing.T) {
	testenv.RequireMPTCP(t)
	var c *Config
	var ipLimits string
	cat := map[string]string{}
	inFreshNamespace(t, func() (err error) {
		if c, err = Read(); err != nil {
			return err
		}
		if ipLimits, err = run("ip", "mptcp", "limits", "show"); err != nil {
			return err
		}
		for name := range c.Sysctls {
			out, err := run("cat", sysctlDir+"/"+name)
			if err != nil {
				return err
			}
			cat[name] = strings.TrimRight(out, "\n")
		}
		return nil
	})
	if len(c.Endpoints) != 0 {
		t.Errorf("a fresh namespace has endpoints %v", c.Endpoints)
	}
	want := fmt.Sprintf("add_addr_accepted %d subflows %d", c.Limits.AddAddrAccepted, c.Limits.Subflows)
	if strings.TrimSpace(ipLimits) != want {
		t.Errorf("limits %+v; ip mptcp limits says %q", c.Limits, ipLimits)
	}
	feature("pm_default_limits", want)
	if len(cat) == 0 || !maps.Equal(cat, map[string]string(c.Sysctls)) {
		t.Errorf("sysctls %v; cat read %v", c.Sysctls, cat)
	}
	names := slices.Sorted(maps.Keys(c.Sysctls))
	feature("mptcp_sysctls", strings.Join(names, " "))
	if on, ok := c.Sysctls.Enabled(); !on || !ok {
		t.Errorf("Enabled() = %v, %v in a fresh namespace", on, ok)
	}
	if pm, ok := c.Sysctls.PathManager(); pm != PathManagerKernel || !ok {
		t.Errorf("PathManager() = %q, %v in a fresh namespace, want kernel", pm, ok)
	}
}

// TestEndpointsReadBack configures limits and endpoints of every kind
// iproute2 can set in the bed's client namespace and reads them back
// exactly; the server namespace keeps the bed's own configuration.
func TestEndpointsReadBack(t *testing.T) {
	testenv.CheckSockets(t)
	bed := testbed.New(t, testbed.Config{Paths: 2, NoEndpoints: true})
	iface := testbed.Iface(1)
	lines := []string{
		"mptcp limits set subflows 3 add_addr_accepted 5",
		fmt.Sprintf("mptcp endpoint add %s dev %s id 3 subflow backup", bed.ClientAddr(1), iface),
		// A port makes the kernel listen on the address: it must be local.
		fmt.Sprintf("mptcp endpoint add %s port 10000 id 7 signal", bed.ClientAddr(0)),
		"mptcp endpoint add 2001:db8::9 id 9 subflow fullmesh",
		"mptcp endpoint add 198.51.100.4 id 200 signal backup",
	}
	for _, l := range lines {
		if _, err := bed.Client.Run(append([]string{"ip"}, strings.Fields(l)...)...); err != nil {
			t.Fatal(err)
		}
	}
	var ifindex int
	var c, s *Config
	err := bed.Client.Do(func() (err error) {
		ifc, err := net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		ifindex = ifc.Index
		c, err = Read()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := bed.Server.Do(func() (err error) { s, err = Read(); return err }); err != nil {
		t.Fatal(err)
	}
	if want := (Limits{Subflows: 3, AddAddrAccepted: 5}); c.Limits != want {
		t.Errorf("client limits %+v, want %+v", c.Limits, want)
	}
	want := []Endpoint{
		{ID: 3, Addr: bed.ClientAddr(1), IfIndex: int32(ifindex), Flags: Subflow | Backup},
		{ID: 7, Addr: bed.ClientAddr(0), Port: 10000, Flags: Signal},
		{ID: 9, Addr: netip.MustParseAddr("2001:db8::9"), Flags: Subflow | Fullmesh},
		{ID: 200, Addr: netip.MustParseAddr("198.51.100.4"), Flags: Signal | Backup},
	}
	if !slices.Equal(c.Endpoints, want) {
		t.Errorf("client endpoints\n  %v\nwant\n  %v", c.Endpoints, want)
	}
	if want := (Limits{Subflows: 8, AddAddrAccepted: 8}); s.Limits != want || len(s.Endpoints) != 0 {
		t.Errorf("server namespace: limits %+v, endpoints %v; want the bed's %+v and none", s.Limits, s.Endpoints, want)
	}
	// The independent view: ip lists the same ids in the same order.
	out, err := bed.Client.Run("ip", "mptcp", "endpoint", "show")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range c.Endpoints {
		ids = append(ids, fmt.Sprintf("id %d ", e.ID))
	}
	for i, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if i >= len(ids) || !strings.Contains(line+" ", ids[i]) || !strings.HasPrefix(line, c.Endpoints[i].Addr.String()+" ") {
			t.Errorf("ip mptcp endpoint line %d %q does not match %v", i, line, c.Endpoints)
		}
	}
}

// TestEndpointFlagsFromNetlink adds an endpoint with every flag a kernel
// accepts through generic netlink itself (iproute2 may not know the newest,
// laminar, Linux 6.18), then reads it back.
func TestEndpointFlagsFromNetlink(t *testing.T) {
	testenv.CheckSockets(t)
	bed := testbed.New(t, testbed.Config{Paths: 1, NoEndpoints: true})
	flags := Subflow | Backup | Fullmesh
	if testenv.KernelAtLeast(6, 18) {
		flags |= Laminar
	}
	want := Endpoint{ID: 42, Addr: netip.MustParseAddr("203.0.113.42"), Flags: flags}
	var got []Endpoint
	err := bed.Client.Do(func() error {
		if err := addEndpoint(want); err != nil {
			return err
		}
		c, err := Read()
		got = c.Endpoints
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != want {
		t.Errorf("endpoints %v, want [%v]", got, want)
	}
}

// addEndpoint sends MPTCP_PM_CMD_ADD_ADDR for e in the calling thread's
// namespace.
func addEndpoint(e Endpoint) error {
	conn, err := genetlink.Dial(nil)
	if err != nil {
		return err
	}
	defer conn.Close()
	fam, err := conn.GetFamily(familyName)
	if err != nil {
		return err
	}
	ae := netlink.NewAttributeEncoder()
	ae.Nested(attrAddr, func(nae *netlink.AttributeEncoder) error {
		a := e.Addr.As4()
		nae.Uint16(addrAttrFamily, familyInet)
		nae.Uint8(addrAttrID, e.ID)
		nae.Bytes(addrAttrAddr4, a[:])
		nae.Uint32(addrAttrFlags, uint32(e.Flags))
		return nil
	})
	data, err := ae.Encode()
	if err != nil {
		return err
	}
	const cmdAddAddr = 1 // MPTCP_PM_CMD_ADD_ADDR
	_, err = conn.Execute(genetlink.Message{
		Header: genetlink.Header{Command: cmdAddAddr, Version: familyVersion},
		Data:   data,
	}, fam.ID, netlink.Request|netlink.Acknowledge)
	return err
}

// TestPathManagerUserspace switches a namespace to the userspace path
// manager (path_manager where the kernel has it, pm_type before) and
// sees it, then
// turns MPTCP off there and sees that too.
func TestPathManagerUserspace(t *testing.T) {
	testenv.RequireMPTCP(t)
	var before, after, off *Config
	inFreshNamespace(t, func() (err error) {
		if before, err = Read(); err != nil {
			return err
		}
		file := "pm_type"
		value := "1"
		if _, ok := before.Sysctls["path_manager"]; ok {
			file, value = "path_manager", PathManagerUserspace
		}
		if err := os.WriteFile(sysctlDir+"/"+file, []byte(value), 0); err != nil {
			return err
		}
		if after, err = Read(); err != nil {
			return err
		}
		if err := os.WriteFile(sysctlDir+"/enabled", []byte("0"), 0); err != nil {
			return err
		}
		off, err = Read()
		return err
	})
	if pm, _ := before.Sysctls.PathManager(); pm != PathManagerKernel {
		t.Errorf("before: PathManager() = %q, want kernel", pm)
	}
	if pm, ok := after.Sysctls.PathManager(); pm != PathManagerUserspace || !ok {
		t.Errorf("after the switch: PathManager() = %q, %v; sysctls %v", pm, ok, after.Sysctls)
	}
	if _, ok := after.Sysctls["path_manager"]; ok && after.Sysctls["pm_type"] != "1" {
		t.Errorf("path_manager %q but pm_type %q: the kernel keeps them in step", after.Sysctls["path_manager"], after.Sysctls["pm_type"])
	}
	if on, ok := off.Sysctls.Enabled(); on || !ok {
		t.Errorf("after enabled=0: Enabled() = %v, %v", on, ok)
	}
	// The limits and endpoints of the in-kernel path manager stay readable
	// (and unused) under the userspace one.
	if after.LimitsErr != nil || after.EndpointsErr != nil || after.Limits != before.Limits {
		t.Errorf("under the userspace path manager: limits %+v (%v), endpoints %v (%v); before %+v",
			after.Limits, after.LimitsErr, after.Endpoints, after.EndpointsErr, before.Limits)
	}
}

// TestReadIn reads the namespace of a socket from the test's goroutine:
// the bed's client namespace for a socket made there, the test's own for
// one of its own.
func TestReadIn(t *testing.T) {
	testenv.CheckSockets(t)
	bed := testbed.New(t, testbed.Config{Paths: 1})
	if _, err := bed.Client.Run("ip", "mptcp", "limits", "set", "subflows", "1", "add_addr_accepted", "7"); err != nil {
		t.Fatal(err)
	}
	var there *net.UDPConn
	if err := bed.Client.Do(func() (err error) { there, err = net.ListenUDP("udp4", nil); return err }); err != nil {
		t.Fatal(err)
	}
	defer there.Close()
	here, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer here.Close()
	rc, _ := there.SyscallConn()
	c, err := ReadIn(rc)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Limits{Subflows: 1, AddAddrAccepted: 7}); c.Limits != want {
		t.Errorf("ReadIn(socket of the client namespace): limits %+v, want %+v", c.Limits, want)
	}
	own, ownErr := Read()
	rc, _ = here.SyscallConn()
	c, err = ReadIn(rc)
	if (err == nil) != (ownErr == nil) || c.Limits != own.Limits || !slices.Equal(c.Endpoints, own.Endpoints) {
		t.Errorf("ReadIn(socket of the test's namespace) = %+v, %v; Read() = %+v, %v", c, err, own, ownErr)
	}
}

// TestWithoutMPTCP: on a kernel without MPTCP (Debian's 5.10) every part
// fails with errors.ErrUnsupported, saying why.
func TestWithoutMPTCP(t *testing.T) {
	testenv.RequireNoMPTCP(t)
	c, err := Read()
	if c == nil || !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("Read() = %v, %v; want every part unsupported", c, err)
	}
	for name, err := range map[string]error{"limits": c.LimitsErr, "endpoints": c.EndpointsErr, "sysctls": c.SysctlsErr} {
		if !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("%s: %v, want errors.ErrUnsupported", name, err)
		}
	}
	t.Logf("Read() on a kernel without MPTCP: %v", err)
	feature("pm_get_limits_unprivileged", "no (no MPTCP)")
	feature("pm_get_addr_unprivileged", "no (no MPTCP)")
}

// TestReadOwnNamespace reads the test process's own namespace, as any user
// may: parts that fail must say why (os.ErrPermission or
// errors.ErrUnsupported), and the limits must match `ip mptcp limits`.
func TestReadOwnNamespace(t *testing.T) {
	testenv.RequireMPTCP(t)
	c, err := Read()
	t.Logf("Read() as uid %d: %+v, error %v", os.Geteuid(), c, err)
	for name, err := range map[string]error{"limits": c.LimitsErr, "endpoints": c.EndpointsErr, "sysctls": c.SysctlsErr} {
		if err != nil && !errors.Is(err, os.ErrPermission) && !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("%s: %v, neither os.ErrPermission nor errors.ErrUnsupported", name, err)
		}
	}
	if c.LimitsErr != nil {
		t.Fatalf("limits: %v (GET_LIMITS needs no capability)", c.LimitsErr)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip(8) to compare with")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	out, err := run("ip", "mptcp", "limits", "show")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("add_addr_accepted %d subflows %d", c.Limits.AddAddrAccepted, c.Limits.Subflows)
	if strings.TrimSpace(out) != want {
		t.Errorf("limits %+v; ip mptcp limits says %q", c.Limits, out)
	}
}
