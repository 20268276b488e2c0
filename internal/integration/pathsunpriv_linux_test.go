package integration_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/testbed"
	"github.com/mptcpx/mptcpx/internal/testenv"
)

// pathsChildEnv makes the test binary the unprivileged child of
// TestPathsUnprivileged: it dials the address in pathsChildAddrEnv, reports
// its connection's diagnosis as JSON on standard output, and exits.
const (
	pathsChildEnv     = "MPTCPX_TEST_PATHS_CHILD"
	pathsChildAddrEnv = "MPTCPX_TEST_PATHS_ADDR"
)

// pathsReport is what the child found.
type pathsReport struct {
	PathEventsErr string
	Permission    bool // PathEvents' error matches os.ErrPermission
	Limit         string
	Unknown       string
	Words, Remedy string
	Diagnosis     conntrace.PathsDiagnosis
}

// pathsChild is the child's work.
func pathsChild() int {
	var r pathsReport
	if err := mptcpx.PathEvents(); err != nil {
		r.PathEventsErr, r.Permission = err.Error(), errors.Is(err, os.ErrPermission)
	}
	c, err := mptcpx.Dial("tcp", os.Getenv(pathsChildAddrEnv), mptcpx.WithInterval(interval))
	if err != nil {
		os.Stderr.WriteString("dial: " + err.Error() + "\n")
		return 2
	}
	mc := c.(*mptcpx.Conn)
	go io.Copy(io.Discard, c)
	buf := make([]byte, 1024)
	var d conntrace.PathsDiagnosis
	for deadline := time.Now().Add(diagWait); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		c.Write(buf)
		if d = mc.PathsDiagnosis(); d.Limit != conntrace.PathsLimitNone {
			time.Sleep(500 * time.Millisecond) // what the counters may still refine
			d = mc.PathsDiagnosis()
			break
		}
	}
	c.Close()
	r.Limit, r.Unknown, r.Words, r.Remedy, r.Diagnosis = d.Limit.String(), d.Unknown.String(), d.String(), d.Remedy(), d
	if err := json.NewEncoder(os.Stdout).Encode(&r); err != nil {
		return 2
	}
	return 0
}

// TestPathsUnprivileged runs the test binary again as user nobody (uid
// 65534, no capability), inside a bed's client namespace, and has it
// diagnose its connection to a server that refuses joins (subflows limit
// 0) and to one whose announcement the client's add_addr_accepted limit
// ignores. Without CAP_NET_ADMIN the process receives no path events
// (Linux 6.7+): mptcpx.PathEvents says so, and the diagnosis works from
// what is left, which it names in PathsDiagnosis.Unknown (path_events): the
// connection's own mptcp_info (local_addr_used says an endpoint was used
// for a join that is gone), its namespace's configuration (its own
// namespace: readable without privilege on 6.12+) and counters (a join
// answered by the peer: refused; an announcement received: ignored).
func TestPathsUnprivileged(t *testing.T) {
	if mode := os.Getenv(pathsChildEnv); mode != "" {
		os.Exit(pathsChild())
	}
	requireLists(t)
	major, minor := kernelVersion()
	if major < 6 || major == 6 && minor < 7 {
		t.Skipf("Linux %d.%d lets any process receive path events (the privilege check came with 6.7)", major, minor)
	}
	bin := testenv.PublicCopy(t, os.Args[0])
	for _, tc := range []struct {
		name  string
		cfg   testbed.Config
		setup func(b *testbed.Bed)
		want  conntrace.PathsLimit
	}{
		{"join refused", testbed.Config{Paths: 2}, func(b *testbed.Bed) {
			run(t, b.Server, "ip", "mptcp", "limits", "set", "subflows", "0", "add_addr_accepted", "0")
		}, conntrace.PathsLimitJoinRejected},
		{"announcement ignored", testbed.Config{Paths: 2, ServerSignal: true}, func(b *testbed.Bed) {
			run(t, b.Client, "ip", "mptcp", "limits", "set", "subflows", "2", "add_addr_accepted", "0")
		}, conntrace.PathsLimitAddAddrMax},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := testbed.New(t, tc.cfg)
			tc.setup(b)
			tel := newTelemetry(t)
			ln := listen(t, b, tel)
			go func() {
				for {
					s, err := ln.Accept()
					if err != nil {
						return
					}
					go func() { io.Copy(s, s); s.Close() }()
				}
			}()
			cmd := exec.Command(bin, "-test.run", "^TestPathsUnprivileged$")
			cmd.Env = append(os.Environ(), pathsChildEnv+"=1", pathsChildAddrEnv+"="+target(b, ln).String())
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			// Started from a thread in the client namespace, the child
			// lives there.
			if err := b.Client.Do(cmd.Run); err != nil {
				t.Fatalf("child: %v; stderr: %s", err, stderr.Bytes())
			}
			var r pathsReport
			if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
				t.Fatalf("child's report %q: %v", stdout.Bytes(), err)
			}
			t.Logf("child as nobody: PathEvents: %q\n  %s: %s\n  remedy: %s", r.PathEventsErr, r.Limit, r.Words, r.Remedy)
			if !r.Permission {
				t.Errorf("PathEvents() = %q, want an error matching os.ErrPermission", r.PathEventsErr)
			}
			if r.Limit != tc.want.String() || r.Diagnosis.Unknown&conntrace.PathsUnknownPathEvents == 0 {
				t.Errorf("diagnosis %s (unknown %s), want %v with path_events unknown", r.Limit, r.Unknown, tc.want)
			}
			if r.Diagnosis.Unknown&conntrace.PathsUnknownNamespace != 0 {
				t.Errorf("unknown %s: the child's own namespace is readable without privilege", r.Unknown)
			}
			if testenv.KernelAtLeast(6, 12) && r.Diagnosis.Unknown&conntrace.PathsUnknownEndpoints != 0 {
				t.Errorf("unknown %s: endpoints are listed without privilege since 6.12", r.Unknown)
			}
		})
	}
	fmt.Println("MPTCPX-FEATURE paths_unprivileged=join_rejected and add_addr_max from the namespace's counters, path_events unknown")
}
