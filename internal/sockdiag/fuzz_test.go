package sockdiag

import (
	"errors"
	"testing"
	"unsafe"

	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// FuzzDecodeDump feeds arbitrary datagrams to the decoder, as the Dumper
// does with what it receives, seeded with real answers (testdata/dumps).
// Nothing may panic; a decoding error wraps ErrMalformed; answerEnds agrees
// with the decoder on the end of the answer; every delivered socket has a
// consistent mptcp_info; and the delivered sockets, encoded again as the
// kernel would, decode to the same sockets.
func FuzzDecodeDump(f *testing.F) {
	for _, c := range loadCaptured(f) {
		f.Add(c.b, c.seq)
	}
	f.Fuzz(func(t *testing.T, b []byte, seq uint32) {
		var s Socket
		var got []Socket
		r := decodeDatagram(b, seq, &s, func(s *Socket) {
			checkInfo(t, s)
			got = append(got, *s)
		})
		if r.malformed != nil && !errors.Is(r.malformed, ErrMalformed) {
			t.Fatalf("%v does not wrap ErrMalformed", r.malformed)
		}
		if r.sockets != len(got) {
			t.Fatalf("%d sockets counted, %d delivered", r.sockets, len(got))
		}
		if answerEnds(b, seq) != r.done {
			t.Fatalf("answerEnds = %v, decodeDatagram done = %v", !r.done, r.done)
		}
		if r.errno != 0 && !r.done {
			t.Fatalf("an error (%v) outside NLMSG_DONE or NLMSG_ERROR", r.errno)
		}

		var again []byte
		for _, s := range got {
			var attrs [][]byte
			if s.InfoLen > 0 {
				raw := (*[mptcpinfo.SizeofInfo]byte)(unsafe.Pointer(&s.Info))
				attrs = append(attrs, nlattr(inetDiagInfo, raw[:s.InfoLen]))
			}
			again = append(again, nlmsg(sockDiagByFamily, 2, seq, diagMsg(s.Family, s.State, s.Cookie, attrs...))...)
		}
		again = append(again, nlmsg(nlmsgDone, 2, seq, errPayload(0))...)
		i := 0
		r2 := decodeDatagram(again, seq, &s, func(s *Socket) {
			if i >= len(got) || *s != got[i] {
				t.Fatalf("socket %d re-encoded decodes to %+v", i, *s)
			}
			i++
		})
		if i != len(got) || !r2.done || r2.malformed != nil || r2.errno != 0 {
			t.Fatalf("re-encoded: %d of %d sockets, %+v", i, len(got), r2)
		}
	})
}
