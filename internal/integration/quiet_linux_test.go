package integration_test

import (
	"net"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"golang.org/x/sys/unix"

	"github.com/mptcpx/mptcpx"
	"github.com/mptcpx/mptcpx/internal/follow"
	"github.com/mptcpx/mptcpx/internal/oteltest"
	"github.com/mptcpx/mptcpx/internal/testbed"
	"github.com/mptcpx/mptcpx/internal/testenv"
)

// TestQuietChangesCaught: quiet connections with their path events are
// parked (no reading of their own, the kernel's readiness list answers for
// them every interval), and what changes is still seen within two
// intervals: bytes from the peer, bytes written through Write, a path
// removed; bytes written through net.Buffers (writev, which Conn does not
// see) within two intervals where the kernel wakes writers when the peer
// acknowledges data, within the rotation otherwise. A connection whose
// socket was handed out (NetConn) is read every interval from then on.
func TestQuietChangesCaught(t *testing.T) {
	requireEvents(t)
	b := testbed.New(t, testbed.Config{Paths: 2})
	tel := newTelemetry(t)
	c, s := connectWith(t, b, tel, mptcpx.WithInterval(interval))
	rcv := receive(s)
	snd := newSender(c, 9)
	if err := snd.send(1); err != nil {
		t.Fatal(err)
	}
	tel.waitSubflowsActive(t, 2, 2)
	within := func(what string, d, bound time.Duration) {
		t.Logf("%s not yet seen %v after it happened", what, d.Round(time.Millisecond))
		if d > bound+50*time.Millisecond {
			t.Errorf("%s not yet seen %v after it happened, want within %v", what, d, bound)
		}
	}
	total := func(role, dir attribute.KeyValue) int64 {
		return oteltest.Total(t, tel.Metrics(t), "mptcp.io", role, dir)
	}

	waitParked(t, 2)
	before := total(roleClient, receiveDir)
	if _, err := s.Write(make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	// Before 6.5 the bytes received come from rcv_nxt, whose last sequence
	// number is held back until the last reading (it may be the peer's
	// DATA_FIN): one byte less.
	missed, err := missedFor(time.Now(), func() bool { return total(roleClient, receiveDir) >= before+64<<10-1 })
	if err != nil {
		t.Fatal(err)
	}
	within("64 KiB from the peer", missed, 2*interval)

	// Bytes sent count once acknowledged (the connection-level snd_una,
	// read on demand): the time to carry them over the bed is not the
	// sampler's delay.
	una := func() uint64 {
		info, err := c.Info()
		if err != nil {
			t.Fatal(err)
		}
		return info.Info.SndUna
	}
	acked := func(from uint64, n uint64) {
		t.Helper()
		if err := testbed.WaitFor(waitTimeout, func() (bool, error) { return una()-from >= n, nil }); err != nil {
			t.Fatal(err)
		}
	}
	waitParked(t, 2)
	before, from := total(roleClient, transmitDir), una()
	if err := snd.send(1 << 20); err != nil {
		t.Fatal(err)
	}
	acked(from, 1<<20)
	missed, err = missedFor(time.Now(), func() bool { return total(roleClient, transmitDir) >= before+1<<20 })
	if err != nil {
		t.Fatal(err)
	}
	within("1 MiB written", missed, 2*interval)

	waitParked(t, 2)
	before, from = total(roleClient, transmitDir), una()
	bufs := net.Buffers{make([]byte, 32<<10), make([]byte, 32<<10)}
	if _, err := bufs.WriteTo(c); err != nil {
		t.Fatal(err)
	}
	snd.n += 64 << 10 // zeros: keep the digest of what the server reads
	snd.h.Write(make([]byte, 64<<10))
	acked(from, 64<<10)
	missed, err = missedFor(time.Now(), func() bool { return total(roleClient, transmitDir) >= before+64<<10 })
	if err != nil {
		t.Fatal(err)
	}
	if ackWakesWriters(t) {
		within("64 KiB written with writev", missed, 2*interval)
	} else {
		within("64 KiB written with writev (the kernel does not wake writers on acknowledgements)", missed, (follow.QuietRotation+2)*interval)
	}

	waitParked(t, 2)
	if err := b.DeleteEndpoint(1); err != nil {
		t.Fatal(err)
	}
	within("a path removed", tel.waitSubflowsActive(t, 1, 1), 2*interval)

	// Handed out: the client is read every interval (parked, it would be
	// read once in 16), the server stays parked.
	waitParked(t, 2)
	c.NetConn()
	st0 := follow.Default.Stats()
	time.Sleep(20 * interval)
	st1 := follow.Default.Stats()
	if reads := st1.Probes + st1.FullReads - st0.Probes - st0.FullReads; reads < 10 {
		t.Errorf("%d readings in 20 intervals after NetConn, want the client read about every interval", reads)
	}
	halfClose(t, c, snd, rcv)
}

// waitParked waits until the scheduler's n connections are parked: over
// ten intervals, the readiness list answered for them every interval, and
// at most one rotation reading each was taken.
func waitParked(t *testing.T, n uint64) {
	t.Helper()
	err := testbed.WaitFor(waitTimeout, func() (bool, error) {
		st0 := follow.Default.Stats()
		time.Sleep(10 * interval)
		st1 := follow.Default.Stats()
		quiet, reads := st1.Quiet-st0.Quiet, st1.Probes+st1.FullReads-st0.Probes-st0.FullReads
		return quiet >= n*8 && reads <= n && st1.Harvests-st0.Harvests >= 8, nil
	})
	if err != nil {
		t.Fatalf("the connections were never parked: %v (%+v)", err, follow.Default.Stats())
	}
}

// ackWakesWriters reports whether the running kernel wakes an MPTCP
// socket's writers (EPOLLOUT, edge-triggered) when the peer acknowledges
// data: since Linux 6.9, not before (MPTCP_NOSPACE).
func ackWakesWriters(t *testing.T) bool {
	c, s := testenv.LoopbackMPTCP(t)
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ep)
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		cerr = unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, int(fd), &unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLET})
	}); err != nil || cerr != nil {
		t.Fatal(err, cerr)
	}
	evs := make([]unix.EpollEvent, 1)
	unix.EpollWait(ep, evs, 0) // writable from the start
	if _, err := c.Write(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	n, _ := unix.EpollWait(ep, evs, 0)
	t.Logf("the kernel wakes writers on acknowledgements: %v", n > 0)
	return n > 0
}
