package netns_test

import (
	"net"
	"testing"

	"github.com/mptcpx/mptcpx/internal/netns"
	"github.com/mptcpx/mptcpx/internal/testbed"
)

// BenchmarkDo measures a visit that does nothing: to a socket of the
// caller's own namespace (no setns), and to one of another namespace
// (SIOCGSKNS, setns there and back).
func BenchmarkDo(b *testing.B) {
	nothing := func() error { return nil }
	here, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer here.Close()
	b.Run("here", func(b *testing.B) {
		rc, _ := here.SyscallConn()
		b.ReportAllocs()
		for b.Loop() {
			if err := netns.Do(rc, nothing); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("there", func(b *testing.B) {
		bed := testbed.New(b, testbed.Config{Paths: 1})
		var there *net.UDPConn
		if err := bed.Client.Do(func() (err error) { there, err = net.ListenUDP("udp4", nil); return err }); err != nil {
			b.Fatal(err)
		}
		defer there.Close()
		rc, _ := there.SyscallConn()
		b.ReportAllocs()
		for b.Loop() {
			if err := netns.Do(rc, nothing); err != nil {
				b.Fatal(err)
			}
		}
	})
}
