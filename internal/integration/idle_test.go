package integration_test

import (
	"testing"
	"time"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/internal/oteltest"
	"github.com/mptcpx/mptcpx/internal/testbed"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// TestIdleChangesCaught: an idle connection's samples stop at the cheap
// reading (mptcp_info alone), and yet what changes after a long idle time
// is caught as soon as before, within two intervals, by polling alone
// (WithoutPathEvents): a path removed, a path added, bytes moved.
func TestIdleChangesCaught(t *testing.T) {
	if mptcpinfo.KernelMethod() == mptcpinfo.MethodProtocol {
		t.Skip("before 5.16 the kernel lists no subflows")
	}
	b := testbed.New(t, testbed.Config{Paths: 2})
	tel := newTelemetry(t)
	c, s := connectWith(t, b, tel, mptcpx.WithInterval(interval), mptcpx.WithoutPathEvents())
	rcv := receive(s)
	snd := newSender(c, 9)
	if err := snd.send(1); err != nil {
		t.Fatal(err)
	}
	tel.waitSubflowsActive(t, 2, 2)
	idle := func() { time.Sleep(20 * interval) }
	within := func(what string, d time.Duration) {
		t.Logf("%s not yet seen %v after it happened", what, d.Round(time.Millisecond))
		if d > 2*interval+50*time.Millisecond {
			t.Errorf("%s not yet seen %v after it happened, want within two intervals (%v)", what, d, 2*interval)
		}
	}

	idle()
	if err := b.DeleteEndpoint(1); err != nil {
		t.Fatal(err)
	}
	within("a path removed", tel.waitSubflowsActive(t, 1, 1))

	idle()
	if err := b.AddEndpoint(1); err != nil {
		t.Fatal(err)
	}
	within("a path added", tel.waitSubflowsActive(t, 2, 2))

	idle()
	before := oteltest.Total(t, tel.Metrics(t), "mptcp.io", roleClient, transmitDir)
	// The bytes moved when the peer acknowledged the last of them (the
	// connection-level snd_una, read on demand); the time to carry 1 MiB
	// over the bed is not the sampler's delay.
	una := func() uint64 {
		info, err := c.Info()
		if err != nil {
			t.Fatal(err)
		}
		return info.Info.SndUna
	}
	from := una()
	if err := snd.send(1 << 20); err != nil {
		t.Fatal(err)
	}
	if err := testbed.WaitFor(waitTimeout, func() (bool, error) { return una()-from >= 1<<20, nil }); err != nil {
		t.Fatal(err)
	}
	missed, err := missedFor(time.Now(), func() bool {
		return oteltest.Total(t, tel.Metrics(t), "mptcp.io", roleClient, transmitDir) >= before+1<<20
	})
	if err != nil {
		t.Fatal(err)
	}
	within("1 MiB sent", missed)
	halfClose(t, c, snd, rcv)
}
