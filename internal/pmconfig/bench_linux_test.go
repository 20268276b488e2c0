package pmconfig

import "testing"

// BenchmarkRead reads the test process's namespace in full: a generic
// netlink socket opened and closed, GET_LIMITS, the GET_ADDR dump, and
// every file of /proc/sys/net/mptcp.
func BenchmarkRead(b *testing.B) {
	if _, err := Read(); err != nil {
		b.Skip(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Read(); err != nil {
			b.Fatal(err)
		}
	}
}
