package sockdiag

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// captureEnv makes TestCapture write what the kernel answers to a few
// requests into testdata, as seeds of FuzzDecodeDump and TestDecodeCaptured:
//
//	SOCKDIAG_CAPTURE=1 go test -run TestCapture ./internal/sockdiag
const captureEnv = "SOCKDIAG_CAPTURE"

// TestCapture is not a test: with captureEnv set it records the datagrams
// of real answers, each with the sequence number of its request and what
// decoding it must give.
func TestCapture(t *testing.T) {
	if os.Getenv(captureEnv) == "" {
		t.Skip("records seeds into testdata; set " + captureEnv + "=1 to run")
	}
	var u unix.Utsname
	unix.Uname(&u)
	release := strings.SplitN(unix.ByteSliceToString(u.Release[:]), "-", 2)[0]
	v4 := openPairs(t, "tcp4", "127.0.0.1:0", 2)
	openPairs(t, "tcp6", "[::1]:0", 1)
	// Some bytes, so that the counters are not all zero.
	v4[0].conn.Write([]byte("hello"))
	buf := make([]byte, 5)
	for _, o := range v4 {
		if o.conn.RemoteAddr().String() == v4[0].conn.LocalAddr().String() && o.conn.LocalAddr().String() == v4[0].conn.RemoteAddr().String() {
			o.conn.Read(buf)
		}
	}
	d := openDumper(t)
	write := func(name, what string, req []byte) {
		dgrams := exchange(t, d, req)
		for i, dg := range dgrams {
			r := decodeDatagram(dg, d.seq, &d.sock, func(*Socket) {})
			var sb strings.Builder
			fmt.Fprintf(&sb, "# Linux %s: %s, datagram %d of %d\n", release, what, i+1, len(dgrams))
			fmt.Fprintf(&sb, "seq %d\n", d.seq)
			fmt.Fprintf(&sb, "want sockets=%d done=%v errno=%d\n", r.sockets, r.done, int(r.errno))
			h := hex.EncodeToString(dg)
			for len(h) > 0 {
				n := min(len(h), 64)
				sb.WriteString(h[:n] + "\n")
				h = h[n:]
			}
			file := filepath.Join("testdata", "dumps", fmt.Sprintf("%s-%s-%d.txt", release, name, i+1))
			if err := os.WriteFile(file, []byte(sb.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %s", file)
		}
	}
	if err := os.MkdirAll(filepath.Join("testdata", "dumps"), 0o755); err != nil {
		t.Fatal(err)
	}
	d.seq++
	d.buildRequest(unix.AF_INET, allStates)
	write("inet", "AF_INET dump, 2 connections on loopback (4 sockets)", d.req[:])
	d.seq++
	d.buildRequest(unix.AF_INET6, allStates)
	write("inet6", "AF_INET6 dump, 1 connection on loopback (2 sockets)", d.req[:])
	d.seq++
	d.buildRequest(unix.AF_INET, 0)
	write("probe", "AF_INET dump selecting no state (Open's probe)", d.req[:])
	// A protocol no inet_diag handler serves: the dump ends with ENOENT
	// in NLMSG_DONE.
	d.seq++
	d.buildRequest(unix.AF_INET, allStates)
	hostOrder.PutUint32(d.req[len(d.req)-4:], 254)
	write("enoent", "AF_INET dump of protocol 254 (no handler)", d.req[:])
	// INET_DIAG_REQ_PROTOCOL must be 4 bytes: the kernel refuses the
	// request before the dump starts, with NLMSG_ERROR.
	d.seq++
	d.buildRequest(unix.AF_INET, allStates)
	bad := append([]byte(nil), d.req[:len(d.req)-4]...)
	hostOrder.PutUint32(bad[0:], uint32(len(bad)))
	hostOrder.PutUint16(bad[len(bad)-4:], nlaHeaderLen)
	write("einval", "request with an empty INET_DIAG_REQ_PROTOCOL", bad)
}

// exchange sends req on d's socket and returns copies of the datagrams of
// the answer, up to its end.
func exchange(t *testing.T, d *Dumper, req []byte) [][]byte {
	t.Helper()
	if _, err := unix.Write(d.fd, req); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for {
		n, err := d.receive()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, append([]byte(nil), d.buf[:n]...))
		if answerEnds(d.buf[:n], d.seq) {
			return out
		}
	}
}
