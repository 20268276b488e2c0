package pmconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/mptcpx/mptcpx/internal/mibstat"
	"github.com/mptcpx/mptcpx/internal/netns"
	"github.com/mptcpx/mptcpx/internal/testbed"
	"github.com/mptcpx/mptcpx/internal/testenv"
)

// childReport is what the unprivileged child found, printed as JSON.
type childReport struct {
	Limits       Limits
	LimitsErr    outcome
	Endpoints    []Endpoint
	EndpointsErr outcome
	Sysctls      int
	SysctlsErr   outcome
	ReadInErr    outcome // ReadIn on a socket of another namespace
	MIBOpenErr   outcome // mibstat.Open in the child's own namespace
	MIBCounters  int
	MIBOpenInErr outcome // mibstat.OpenIn on a socket of another namespace
}

// outcome describes an error for the parent.
type outcome struct {
	Text       string // "" for nil
	Permission bool   // errors.Is(err, os.ErrPermission)
	NotHere    bool   // errors.Is(err, netns.ErrNotHere)
}

func describe(err error) outcome {
	if err == nil {
		return outcome{}
	}
	return outcome{Text: err.Error(), Permission: errors.Is(err, os.ErrPermission), NotHere: errors.Is(err, netns.ErrNotHere)}
}

// childRead runs in the re-executed test binary, without privilege over
// its network namespace (see TestWithoutPrivilege for the modes). File
// descriptor 3 is a socket of another namespace. It prints a childReport.
func childRead(mode string) int {
	if mode == "capset" {
		// Capabilities belong to threads: drop this thread's and keep
		// the goroutine on it (Read and Open run on it).
		runtime.LockOSThread()
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			os.Stderr.WriteString("capset: " + err.Error() + "\n")
			return 2
		}
	}
	var r childReport
	c, err := Read()
	if c == nil {
		os.Stderr.WriteString("Read returned no Config: " + err.Error() + "\n")
		return 2
	}
	r.Limits, r.LimitsErr = c.Limits, describe(c.LimitsErr)
	r.Endpoints, r.EndpointsErr = c.Endpoints, describe(c.EndpointsErr)
	r.Sysctls, r.SysctlsErr = len(c.Sysctls), describe(c.SysctlsErr)

	other, err := net.FilePacketConn(os.NewFile(3, "other namespace"))
	if err != nil {
		os.Stderr.WriteString("fd 3: " + err.Error() + "\n")
		return 2
	}
	defer other.Close()
	rc, _ := other.(*net.UDPConn).SyscallConn()
	if c, err := ReadIn(rc); c != nil || err == nil {
		r.ReadInErr = outcome{Text: "ReadIn entered another namespace without privilege"}
	} else {
		r.ReadInErr = describe(err)
	}

	m, err := mibstat.Open()
	r.MIBOpenErr = describe(err)
	if err == nil {
		var s mibstat.Snapshot
		r.MIBOpenErr = describe(m.Read(&s))
		r.MIBCounters = s.Len()
		m.Close()
	}
	if m, err := mibstat.OpenIn(rc); err == nil {
		m.Close()
		r.MIBOpenInErr = outcome{Text: "OpenIn entered another namespace without privilege"}
	} else {
		r.MIBOpenInErr = describe(err)
	}
	if err := json.NewEncoder(os.Stdout).Encode(&r); err != nil {
		return 2
	}
	return 0
}

// TestWithoutPrivilege runs the test binary again inside the bed's client
// namespace, without privilege over it, in three ways: as user nobody
// (what setpriv --reuid=65534 --regid=65534 --clear-groups does), as root
// without capabilities, and with every capability but in a new user
// namespace (which does not own the network namespace). Each time it
// checks what can still be read (as root without capabilities, only the
// child's main thread has none: the checks of other namespaces, which
// netns.Do enters from another thread, are left to the other two modes):
//
//   - the limits (GET_LIMITS never needed a capability),
//   - the endpoints (GET_ADDR needs CAP_NET_ADMIN on 6.7 to 6.11 only,
//     where the error must match os.ErrPermission),
//   - the sysctls and the MPTcpExt counters (world-readable files),
//
// and that another namespace (a socket of the bed's server namespace,
// handed over as descriptor 3) cannot be entered: the errors of ReadIn and
// mibstat.OpenIn match netns.ErrNotHere and os.ErrPermission.
func TestWithoutPrivilege(t *testing.T) {
	testenv.CheckSockets(t)
	bed := testbed.New(t, testbed.Config{Paths: 2})
	bin := testenv.PublicCopy(t, os.Args[0])
	var other *net.UDPConn
	if err := bed.Server.Do(func() (err error) { other, err = net.ListenUDP("udp4", nil); return err }); err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	otherFile, err := other.File()
	if err != nil {
		t.Fatal(err)
	}
	defer otherFile.Close()
	wantEndpoint := Endpoint{ID: uint8(testbed.EndpointID(1)), Addr: bed.ClientAddr(1), Flags: Subflow}
	if err := bed.Client.Do(func() error {
		ifc, err := net.InterfaceByName(testbed.Iface(1))
		if err == nil {
			wantEndpoint.IfIndex = int32(ifc.Index)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		mode string
		attr *syscall.SysProcAttr
	}{
		{"nobody", &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}},
		{"capset", nil},
		{"userns", &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			cmd := exec.Command(bin)
			cmd.Env = append(os.Environ(), childEnv+"="+tc.mode)
			cmd.SysProcAttr = tc.attr
			cmd.ExtraFiles = []*os.File{otherFile}
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			// Started from a thread in the client namespace, the child
			// lives there.
			if err := bed.Client.Do(cmd.Run); err != nil {
				t.Fatalf("child: %v; stderr: %s", err, stderr.Bytes())
			}
			var r childReport
			if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
				t.Fatalf("child's report %q: %v", stdout.Bytes(), err)
			}
			t.Logf("child %s: %+v", tc.mode, r)
			checkChild(t, tc.mode, &r, wantEndpoint)
		})
	}
}

func checkChild(t *testing.T, mode string, r *childReport, wantEndpoint Endpoint) {
	t.Helper()
	if want := (Limits{Subflows: 8, AddAddrAccepted: 8}); r.LimitsErr.Text != "" || r.Limits != want {
		t.Errorf("limits %+v (%s), want the bed's %+v: GET_LIMITS needs no capability", r.Limits, r.LimitsErr.Text, want)
	}
	// GET_ADDR was marked GENL_UNS_ADMIN_PERM in 6.7 and unmarked in 6.12
	// (and in stable kernels that took the fix, so 6.7 to 6.11 may go
	// either way).
	mayRefuse := testenv.KernelAtLeast(6, 7) && !testenv.KernelAtLeast(6, 12)
	switch {
	case r.EndpointsErr.Text == "":
		if len(r.Endpoints) != 1 || r.Endpoints[0] != wantEndpoint {
			t.Errorf("endpoints %v, want [%v]", r.Endpoints, wantEndpoint)
		}
	case mayRefuse && r.EndpointsErr.Permission:
	default:
		t.Errorf("endpoints: %+v; this kernel lets anyone list them", r.EndpointsErr)
	}
	if r.SysctlsErr.Text != "" || r.Sysctls == 0 {
		t.Errorf("sysctls: %d read, error %q", r.Sysctls, r.SysctlsErr.Text)
	}
	if r.MIBOpenErr.Text != "" || r.MIBCounters == 0 {
		t.Errorf("mibstat in the own namespace: %d counters, error %q", r.MIBCounters, r.MIBOpenErr.Text)
	}
	for name, o := range map[string]outcome{"ReadIn": r.ReadInErr, "mibstat.OpenIn": r.MIBOpenInErr} {
		if mode == "capset" {
			// Capabilities belong to threads: netns.Do runs on a
			// thread of its own, which kept them.
			break
		}
		if !o.NotHere || !o.Permission {
			t.Errorf("%s on a socket of another namespace: %+v, want netns.ErrNotHere and os.ErrPermission", name, o)
		}
	}
	if mode == "nobody" {
		feature("pm_get_limits_unprivileged", yesNo(r.LimitsErr))
		feature("pm_get_addr_unprivileged", yesNo(r.EndpointsErr))
		feature("pm_sysctls_unprivileged", yesNo(r.SysctlsErr))
		feature("mib_netstat_unprivileged", yesNo(r.MIBOpenErr))
		feature("netns_enter_unprivileged", yesNo(r.ReadInErr))
	}
}

func yesNo(o outcome) string {
	switch {
	case o.Text == "":
		return "yes"
	case o.Permission:
		return "no (EPERM)"
	}
	return "no (" + o.Text + ")"
}
