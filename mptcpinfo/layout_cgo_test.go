//go:build linux && cgo

package mptcpinfo

import (
	"testing"
	"unsafe"

	"github.com/mptcpx/mptcpx/mptcpinfo/internal/cheaders"
)

// TestLayoutMatchesSystemHeaders checks the Go mirrors against the C headers
// installed on this machine, for the fields those headers declare.
func TestLayoutMatchesSystemHeaders(t *testing.T) {
	c := cheaders.Layout()
	g := goLayout()
	var ti TCPInfo
	for k, off := range map[string]uintptr{
		"tcp_info.rtt": unsafe.Offsetof(ti.RTT), "tcp_info.rttvar": unsafe.Offsetof(ti.RTTVar),
		"tcp_info.snd_cwnd": unsafe.Offsetof(ti.SndCwnd), "tcp_info.total_retrans": unsafe.Offsetof(ti.TotalRetrans),
		"tcp_info.bytes_acked": unsafe.Offsetof(ti.BytesAcked), "tcp_info.bytes_received": unsafe.Offsetof(ti.BytesReceived),
		"tcp_info.min_rtt": unsafe.Offsetof(ti.MinRTT), "tcp_info.delivery_rate": unsafe.Offsetof(ti.DeliveryRate),
		"tcp_info.bytes_sent": unsafe.Offsetof(ti.BytesSent), "tcp_info.bytes_retrans": unsafe.Offsetof(ti.BytesRetrans),
	} {
		g[k] = off
	}
	checked := 0
	for k, off := range c {
		want, ok := g[k]
		if !ok {
			continue
		}
		checked++
		if want != off {
			t.Errorf("%s: Go %d, C headers %d", k, want, off)
		}
	}
	if checked < 25 {
		t.Fatalf("only %d fields compared", checked)
	}
}
