package sockdiag

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/mptcpx/mptcpx/internal/testenv"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// TestUnprivileged: a process with no privilege at all (user and group
// 65534, no supplementary group, no capability) dumps the namespace and
// gets every socket of this root-owned test with its mptcp_info: sock_diag
// asks no capability for a dump, and mptcp_diag fills INET_DIAG_INFO for
// anyone (CAP_NET_ADMIN only adds INET_DIAG_MARK, which is not asked for).
//
// The child is this test binary, started as that user (SysProcAttr
// credentials, what setpriv does), so no tool is needed; run by a user that
// is not root, the test dumps in its own process instead.
func TestUnprivileged(t *testing.T) {
	testenv.CheckSockets(t)
	socks := append(openPairs(t, "tcp4", "127.0.0.1:0", 3), openPairs(t, "tcp6", "[::1]:0", 2)...)
	var r mptcpinfo.Reader
	tokens := map[uint64]uint32{}
	for _, o := range socks {
		var snap mptcpinfo.Snapshot
		if err := r.ReadInfo(o.rc, &snap); err != nil {
			t.Fatal(err)
		}
		tokens[o.cookie] = snap.Info.Token // 0 before 5.16: then only presence is checked
	}

	var out []byte
	if os.Geteuid() != 0 {
		// Already unprivileged: dump here, as the child would.
		var buf bytes.Buffer
		fmt.Fprintf(&buf, "id %d %d %s\n", os.Getuid(), os.Geteuid(), capEff())
		d := openDumper(t)
		if _, err := d.Dump(func(s *Socket) { fmt.Fprintf(&buf, "sock %x %d %x\n", s.Cookie, s.InfoLen, s.Info.Token) }); err != nil {
			t.Fatal(err)
		}
		out = buf.Bytes()
	} else {
		cmd := childCmd(childBinary(t), "dump")
		asNobody(cmd)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		var err error
		if out, err = cmd.Output(); err != nil {
			t.Fatalf("the unprivileged child failed: %v\n%s", err, stderr.Bytes())
		}
	}

	sc := bufio.NewScanner(bytes.NewReader(out))
	type entry struct {
		infoLen int
		token   uint32
	}
	seen := map[uint64]entry{}
	var uid, euid int
	capEff := ""
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 4 && f[0] == "id":
			fmt.Sscan(f[1], &uid)
			fmt.Sscan(f[2], &euid)
			capEff = f[3]
		case len(f) == 4 && f[0] == "sock":
			var cookie uint64
			var e entry
			fmt.Sscanf(f[1], "%x", &cookie)
			fmt.Sscan(f[2], &e.infoLen)
			fmt.Sscanf(f[3], "%x", &e.token)
			seen[cookie] = e
		}
	}
	if uid == 0 || euid == 0 || strings.Trim(capEff, "0") != "" {
		t.Fatalf("the dump ran with uid %d, euid %d, CapEff %q: not unprivileged", uid, euid, capEff)
	}
	for _, o := range socks {
		e, ok := seen[o.cookie]
		switch {
		case !ok:
			t.Errorf("the unprivileged dump misses %v (cookie %#x)", o.conn.LocalAddr(), o.cookie)
		case e.infoLen == 0:
			t.Errorf("the unprivileged dump has no INET_DIAG_INFO for %v", o.conn.LocalAddr())
		case tokens[o.cookie] != 0 && e.token != tokens[o.cookie]:
			t.Errorf("%v: token %#x in the unprivileged dump, %#x from getsockopt", o.conn.LocalAddr(), e.token, tokens[o.cookie])
		}
	}
	if !t.Failed() {
		t.Logf("uid %d, CapEff %s: %d sockets listed, all %d of the test's with mptcp_info", uid, capEff, len(seen), len(socks))
		t.Log("MPTCPX-FEATURE sockdiag_unprivileged=yes")
	}
}
