package sockdiag

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// captured is a datagram recorded by TestCapture.
type captured struct {
	name    string
	seq     uint32
	b       []byte
	sockets int
	done    bool
	errno   int
}

// loadCaptured reads testdata/dumps.
func loadCaptured(t testing.TB) []captured {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "dumps", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no captured dumps in testdata/dumps (%v)", err)
	}
	var out []captured
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c := captured{name: filepath.Base(f)}
		var hexText strings.Builder
		sc := bufio.NewScanner(bytes.NewReader(text))
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "#"):
			case strings.HasPrefix(line, "seq "):
				fmt.Sscanf(line, "seq %d", &c.seq)
			case strings.HasPrefix(line, "want "):
				if _, err := fmt.Sscanf(line, "want sockets=%d done=%t errno=%d", &c.sockets, &c.done, &c.errno); err != nil {
					t.Fatalf("%s: %q: %v", f, line, err)
				}
			default:
				hexText.WriteString(strings.TrimSpace(line))
			}
		}
		if c.b, err = hex.DecodeString(hexText.String()); err != nil || c.seq == 0 {
			t.Fatalf("%s: seq %d, %v", f, c.seq, err)
		}
		out = append(out, c)
	}
	return out
}

// TestDecodeCaptured decodes every captured datagram and finds what the
// kernel meant: the sockets with their cookie and mptcp_info, the end of
// the answer, the error of a refused request.
func TestDecodeCaptured(t *testing.T) {
	for _, c := range loadCaptured(t) {
		var s Socket
		var got []Socket
		r := decodeDatagram(c.b, c.seq, &s, func(s *Socket) { got = append(got, *s) })
		if r.malformed != nil || r.sockets != c.sockets || len(got) != c.sockets || r.done != c.done || int(r.errno) != c.errno || r.stale != 0 || r.intr {
			t.Errorf("%s: %+v (%d delivered), want %d sockets, done %v, errno %d", c.name, r, len(got), c.sockets, c.done, c.errno)
		}
		if answerEnds(c.b, c.seq) != c.done {
			t.Errorf("%s: answerEnds = %v", c.name, !c.done)
		}
		for _, s := range got {
			if s.Cookie == 0 || s.InfoLen == 0 || s.Info.Token == 0 || s.State != 1 || (s.Family != 2 && s.Family != 10) {
				t.Errorf("%s: socket %+v", c.name, s)
			}
		}
		// The same bytes answer no other request.
		if r := decodeDatagram(c.b, c.seq+1, &s, func(*Socket) { t.Errorf("%s: delivered for another sequence number", c.name) }); r.done || r.stale == 0 {
			t.Errorf("%s: with another sequence number: %+v", c.name, r)
		}
	}
}

// Message builders for the synthetic tests, with the kernel's layout.

func nlmsg(typ, flags uint16, seq uint32, payload []byte) []byte {
	b := make([]byte, nlmsgHeaderLen, nlmsgHeaderLen+len(payload)+netlinkAlign)
	hostOrder.PutUint32(b[0:], uint32(nlmsgHeaderLen+len(payload)))
	hostOrder.PutUint16(b[4:], typ)
	hostOrder.PutUint16(b[6:], flags)
	hostOrder.PutUint32(b[8:], seq)
	b = append(b, payload...)
	for len(b)%netlinkAlign != 0 {
		b = append(b, 0)
	}
	return b
}

func nlattr(typ uint16, data []byte) []byte {
	b := make([]byte, nlaHeaderLen, nlaHeaderLen+len(data)+netlinkAlign)
	hostOrder.PutUint16(b[0:], uint16(nlaHeaderLen+len(data)))
	hostOrder.PutUint16(b[2:], typ)
	b = append(b, data...)
	for len(b)%netlinkAlign != 0 {
		b = append(b, 0)
	}
	return b
}

// diagMsg builds a SOCK_DIAG_BY_FAMILY payload: struct inet_diag_msg and
// the given attributes.
func diagMsg(family, state uint8, cookie uint64, attrs ...[]byte) []byte {
	b := make([]byte, sizeofInetDiagMsg)
	b[offFamily], b[offState] = family, state
	hostOrder.PutUint32(b[offCookie:], uint32(cookie))
	hostOrder.PutUint32(b[offCookie+4:], uint32(cookie>>32))
	for _, a := range attrs {
		b = append(b, a...)
	}
	return b
}

func errPayload(errno int32) []byte {
	b := make([]byte, 4)
	hostOrder.PutUint32(b, uint32(errno))
	return b
}

// infoBytes returns n bytes of an mptcp_info whose token is token and
// whose other bytes are 0xaa (so that what is cut off is seen).
func infoBytes(token uint32, n int) []byte {
	b := bytes.Repeat([]byte{0xaa}, n)
	if n >= 16 {
		hostOrder.PutUint32(b[12:], token)
	}
	return b
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// TestDecodeSynthetic covers what real dumps rarely show.
func TestDecodeSynthetic(t *testing.T) {
	const seq = 7
	done := nlmsg(nlmsgDone, 2, seq, errPayload(0))
	for _, tc := range []struct {
		name      string
		b         []byte
		cookies   []uint64
		infoLens  []int
		done      bool
		errno     syscall.Errno
		intr      bool
		stale     int
		malformed bool
	}{
		{name: "empty datagram"},
		{name: "done only", b: done, done: true},
		{
			name:    "cookie halves, low first",
			b:       cat(nlmsg(sockDiagByFamily, 2, seq, diagMsg(2, 1, 0x1122334455667788, nlattr(inetDiagInfo, infoBytes(1, 96))))),
			cookies: []uint64{0x1122334455667788}, infoLens: []int{96},
		},
		{
			name: "5.9 info (40 bytes), 6.5 (80), a future kernel's (104), none, padding attribute first",
			b: cat(
				nlmsg(sockDiagByFamily, 2, seq, diagMsg(2, 1, 1, nlattr(8 /* INET_DIAG_SHUTDOWN */, []byte{0}), nlattr(inetDiagInfo, infoBytes(1, 40)))),
				nlmsg(sockDiagByFamily, 2, seq, diagMsg(10, 8, 2, nlattr(inetDiagInfo, infoBytes(2, 80)))),
				nlmsg(sockDiagByFamily, 2, seq, diagMsg(10, 1, 3, nlattr(inetDiagInfo, infoBytes(3, 104)))),
				nlmsg(sockDiagByFamily, 2, seq, diagMsg(2, 1, 4)),
				nlmsg(sockDiagByFamily, 2, seq, diagMsg(2, 1, 5, nlattr(14 /* INET_DIAG_PAD */, nil), nlattr(inetDiagInfo|0x4000, infoBytes(5, 96)))),
				done),
			cookies: []uint64{1, 2, 3, 4, 5}, infoLens: []int{40, 80, 96, 0, 96}, done: true,
		},
		{
			name:    "stale messages of an earlier dump, and NLMSG_NOOP, are skipped",
			b:       cat(nlmsg(sockDiagByFamily, 2, seq-1, diagMsg(2, 1, 9)), nlmsg(nlmsgDone, 2, seq-1, errPayload(0)), nlmsg(nlmsgNoop, 0, seq, nil), nlmsg(sockDiagByFamily, 2, seq, diagMsg(2, 1, 1)), done),
			cookies: []uint64{1}, infoLens: []int{0}, done: true, stale: 2,
		},
		{
			name:    "nothing after NLMSG_DONE is read",
			b:       cat(done, nlmsg(sockDiagByFamily, 2, seq, diagMsg(2, 1, 1)), []byte{1, 2, 3}),
			cookies: nil, done: true,
		},
		{
			name: "NLMSG_DONE with ENOENT", b: nlmsg(nlmsgDone, 2, seq, errPayload(-2)), done: true, errno: syscall.ENOENT,
		},
		{
			name: "NLMSG_ERROR with EBUSY", b: nlmsg(nlmsgError, 0, seq, cat(errPayload(-16), make([]byte, 16))), done: true, errno: syscall.EBUSY,
		},
		{
			name: "NLMSG_ERROR acknowledging", b: nlmsg(nlmsgError, 0, seq, cat(errPayload(0), make([]byte, 16))), done: true,
		},
		{
			name: "NLMSG_ERROR cut short", b: nlmsg(nlmsgError, 0, seq, []byte{1, 2}), done: true, malformed: true,
		},
		{
			name: "NLMSG_DONE without payload (an old kernel)", b: nlmsg(nlmsgDone, 2, seq, nil), done: true,
		},
		{
			name:    "NLM_F_DUMP_INTR",
			b:       cat(nlmsg(sockDiagByFamily, 2|nlmFDumpIntr, seq, diagMsg(2, 1, 1)), done),
			cookies: []uint64{1}, infoLens: []int{0}, done: true, intr: true,
		},
		{
			name:    "socket message shorter than inet_diag_msg is skipped",
			b:       cat(nlmsg(sockDiagByFamily, 2, seq, make([]byte, 71)), nlmsg(sockDiagByFamily, 2, seq, diagMsg(2, 1, 2)), done),
			cookies: []uint64{2}, infoLens: []int{0}, done: true, malformed: true,
		},
		{
			name: "attribute running past its message: that socket is skipped",
			b: cat(nlmsg(sockDiagByFamily, 2, seq, cat(diagMsg(2, 1, 1), []byte{200, 0, 2, 0, 1, 2, 3, 4})),
				nlmsg(sockDiagByFamily, 2, seq, cat(diagMsg(2, 1, 2), []byte{2, 0, 2, 0})),
				nlmsg(sockDiagByFamily, 2, seq, cat(diagMsg(2, 1, 3), []byte{1, 2})),
				nlmsg(sockDiagByFamily, 2, seq, diagMsg(2, 1, 4)), done),
			cookies: []uint64{4}, infoLens: []int{0}, done: true, malformed: true,
		},
		{
			name:    "netlink header cut off ends the walk",
			b:       cat(nlmsg(sockDiagByFamily, 2, seq, diagMsg(2, 1, 1)), done[:10]),
			cookies: []uint64{1}, infoLens: []int{0}, malformed: true,
		},
		{
			name:    "message longer than the datagram ends the walk",
			b:       cat(nlmsg(sockDiagByFamily, 2, seq, diagMsg(2, 1, 1)), done[:nlmsgHeaderLen]),
			cookies: []uint64{1}, infoLens: []int{0}, malformed: true,
		},
		{
			name: "length below the header ends the walk", b: cat([]byte{4, 0, 0, 0}, done[4:]), malformed: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s Socket
			var cookies []uint64
			var infoLens []int
			r := decodeDatagram(tc.b, seq, &s, func(s *Socket) {
				cookies = append(cookies, s.Cookie)
				infoLens = append(infoLens, s.InfoLen)
				checkInfo(t, s)
			})
			if fmt.Sprint(cookies) != fmt.Sprint(tc.cookies) || fmt.Sprint(infoLens) != fmt.Sprint(tc.infoLens) || r.sockets != len(tc.cookies) {
				t.Errorf("delivered cookies %v with info lengths %v (%d counted), want %v and %v", cookies, infoLens, r.sockets, tc.cookies, tc.infoLens)
			}
			if r.done != tc.done || r.errno != tc.errno || r.intr != tc.intr || r.stale != tc.stale || (r.malformed != nil) != tc.malformed {
				t.Errorf("got %+v", r)
			}
			if r.malformed != nil && !errors.Is(r.malformed, ErrMalformed) {
				t.Errorf("%v does not wrap ErrMalformed", r.malformed)
			}
			if answerEnds(tc.b, seq) != r.done {
				t.Errorf("answerEnds = %v, decodeDatagram says done = %v", !r.done, r.done)
			}
		})
	}
}

// checkInfo fails t when s's mptcp_info is inconsistent with InfoLen: a
// length beyond the struct, non-zero bytes past it, or Has answering
// otherwise than a Snapshot of the same length.
func checkInfo(t *testing.T, s *Socket) {
	t.Helper()
	if s.InfoLen < 0 || s.InfoLen > mptcpinfo.SizeofInfo {
		t.Fatalf("InfoLen %d", s.InfoLen)
	}
	raw := (*[mptcpinfo.SizeofInfo]byte)(unsafe.Pointer(&s.Info))
	if i := bytes.IndexFunc(raw[s.InfoLen:], func(r rune) bool { return r != 0 }); i >= 0 {
		t.Fatalf("byte %d of mptcp_info is set, past the %d bytes the kernel returned", s.InfoLen+i, s.InfoLen)
	}
	snap := mptcpinfo.Snapshot{InfoLen: s.InfoLen}
	for f := mptcpinfo.FieldLocalAddrUsed; f <= mptcpinfo.FieldTCPAccECN; f++ {
		if s.Has(f) != snap.Has(f) {
			t.Fatalf("Has(%v) = %v with %d bytes", f, s.Has(f), s.InfoLen)
		}
	}
}

// TestHas: a dump reports the fields its kernel's mptcp_info holds, and
// never subflow or tcp_info fields.
func TestHas(t *testing.T) {
	for _, tc := range []struct {
		n    int
		have []mptcpinfo.Field
	}{
		{0, nil},
		{40, nil},
		{48, []mptcpinfo.Field{mptcpinfo.FieldLocalAddrUsed, mptcpinfo.FieldCsumEnabled}},
		{80, []mptcpinfo.Field{mptcpinfo.FieldLocalAddrUsed, mptcpinfo.FieldCsumEnabled, mptcpinfo.FieldBytes}},
		{96, []mptcpinfo.Field{mptcpinfo.FieldLocalAddrUsed, mptcpinfo.FieldCsumEnabled, mptcpinfo.FieldBytes, mptcpinfo.FieldSubflowsTotal, mptcpinfo.FieldLastData}},
	} {
		s := Socket{InfoLen: tc.n}
		for f := mptcpinfo.FieldLocalAddrUsed; f <= mptcpinfo.FieldTCPAccECN; f++ {
			want := false
			for _, h := range tc.have {
				want = want || h == f
			}
			if s.Has(f) != want {
				t.Errorf("%d bytes: Has(%v) = %v", tc.n, f, !want)
			}
		}
	}
}
