package pmevents

import "testing"

// BenchmarkDecode decodes one SUB_ESTABLISHED message the kernel sent
// (a client's IPv4 subflow: 10 attributes, if_idx included).
func BenchmarkDecode(b *testing.B) {
	var msg []byte
	var e Event
	for i := range capturedSeeds {
		p := seed(b, i)[netlinkHeaderLen:]
		if e.Decode(p) == nil && e.Kind == SubEstablished && e.Has(AttrIfIndex) && e.Local.Addr().Is4() {
			msg = p
			break
		}
	}
	if msg == nil {
		b.Fatal("no such seed")
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := e.Decode(msg); err != nil {
			b.Fatal(err)
		}
	}
	if e.Kind != SubEstablished || !e.Has(AttrIfIndex) {
		b.Fatalf("decoded %v", describe(&e))
	}
}
