package detect

import (
	"net/netip"
	"syscall"
	"testing"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// FuzzDetect plays arbitrary sequences of readings and path events, as a
// kernel and a watcher could give them in any order, to a Detector: it
// never panics, a subflow it reports removed is not listed by the same
// reading, nothing is held back for an event longer than heldSamples
// samples, and nothing at all after the last reading.
func FuzzDetect(f *testing.F) {
	f.Add([]byte{0x13, 0x25, 0x80, 0x13, 0x41, 0x07, 0x10, 0x00})
	f.Add([]byte{0xff, 0x33, 0x20, 0x21, 0x22, 0x23, 0x90, 0x11, 0x05})
	f.Fuzz(func(t *testing.T, data []byte) {
		var d Detector
		var out conntrace.Sample
		ends := func(k byte) (netip.AddrPort, netip.AddrPort) {
			return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, k & 3, 1}), 40000+uint16(k>>2&1)),
				netip.MustParseAddrPort("10.9.9.9:443")
		}
		for i := 0; i+1 < len(data); i += 2 {
			op, arg := data[i], data[i+1]
			final := op&0x80 != 0
			d.AwaitEvents = op&0x40 == 0
			stream := Stream{FinSent: op&0x20 != 0, EOFRead: op&0x10 != 0, Final: final}
			// The reading: up to four subflows, by the bits of arg, each
			// with its own ends; kernel ids unless op says otherwise.
			s := snap(uint64(i)*100, 0)
			for k := byte(0); k < 4; k++ {
				if arg&(1<<k) == 0 {
					continue
				}
				var sf mptcpinfo.Subflow
				sf.ID = uint32(k) + 1
				sf.Local, sf.Remote = ends(k | arg>>4&4)
				sf.TCPInfo.BytesSent = uint64(i) * uint64(k+1)
				if arg&0x80 != 0 && k == 3 {
					sf.TCPInfo.State = tcpSynSent
				}
				s.Subflows = append(s.Subflows, sf)
			}
			s.NumSubflows = len(s.Subflows)
			if op&0x08 != 0 {
				s.Method, s.InfoLen = mptcpinfo.MethodSplit, 48
				for j := range s.Subflows {
					s.Subflows[j].ID = 0
				}
			}
			if op&0x04 != 0 && op&0x02 != 0 {
				s = &mptcpinfo.Snapshot{Method: mptcpinfo.MethodFullInfo, Fallback: true, Protocol: mptcpinfo.IPPROTO_MPTCP}
			}
			var events []conntrace.PathEvent
			if op&0x01 != 0 {
				l, r := ends(arg >> 4)
				kind := conntrace.SubflowEstablished
				if op&0x02 != 0 {
					kind = conntrace.SubflowClosed
				}
				events = append(events, conntrace.PathEvent{Kind: kind, Local: l, Remote: r, Error: syscall.ECONNRESET})
			}
			if op&0x04 != 0 && op&0x02 == 0 && final {
				d.Unread(&mptcpinfo.Snapshot{}, conntrace.RoleClient, &out, events)
			} else {
				d.Detect(s, conntrace.RoleClient, &out, stream, events)
			}
			for _, r := range out.Removed {
				for _, sf := range out.Snapshot.Subflows {
					if sf.ID == r.ID {
						t.Fatalf("step %d: subflow %d reported removed and listed", i/2, r.ID)
					}
				}
			}
			for _, st := range d.subflows {
				if st.gone > heldSamples || final && st.gone > 0 {
					t.Fatalf("step %d: subflow %d held %d samples (final %v)", i/2, st.id, st.gone, final)
				}
			}
			if final {
				return
			}
		}
	})
}
