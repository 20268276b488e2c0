package mibstat

import "testing"

// BenchmarkParse parses the 6.18 capture (4 KiB: TcpExt, IpExt, MPTcpExt
// with 76 counters) into a snapshot that held it before.
func BenchmarkParse(b *testing.B) {
	text := capture(b)
	var s Snapshot
	if err := Parse(text, &s); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if err := Parse(text, &s); err != nil {
			b.Fatal(err)
		}
	}
}
