package pmevents

import (
	"syscall"
	"testing"
	"time"

	"github.com/mptcpx/mptcpx/internal/testbed"
	"github.com/mptcpx/mptcpx/internal/testenv"
)

// TestSubflowKilled destroys the client's path-1 subflow with `ss -K`
// (SOCK_DESTROY, CONFIG_INET_DIAG_DESTROY) in the client namespace and
// checks what both ends report. Measured on 6.18: tcp_abort sets the
// killed socket's sk_err to ECONNABORTED and sends a reset that carries an
// MP_TCPRST option with reason 0 (unspecified) and no flags, so
//
//   - the client's SUB_CLOSED has error ECONNABORTED (103) and no reset
//     attributes (it sent the reset, it did not see one);
//   - the server's SUB_CLOSED has error ECONNRESET (104), reset_reason 0
//     and reset_flags 0 (it saw the MP_TCPRST option: reset_seen).
func TestSubflowKilled(t *testing.T) {
	testenv.CheckSockets(t)
	bed := newBed(t, testbed.Config{Paths: 2})
	clientEvents := collect(t, openIn(t, bed.Client))
	serverEvents := collect(t, openIn(t, bed.Server))
	srv := serve(t, bed, false)
	c := dial(t, bed, srv.port)
	token := tokenOf(t, c)
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	serverToken := tokenOf(t, srv.accept(t))
	clientEvents.next(t, "SUB_ESTABLISHED", kindOf(SubEstablished, token))
	serverEvents.next(t, "SUB_ESTABLISHED on the server", kindOf(SubEstablished, serverToken))

	// Only the path-1 subflow has this source address.
	if out, err := bed.Client.SS("-K", "src", bed.ClientAddr(1).String()); err != nil {
		t.Fatalf("ss -K: %v\n%s", err, out)
	}

	r := clientEvents.next(t, "SUB_CLOSED", kindOf(SubClosed, token))
	t.Logf("client: %v", r)
	if r.Local.Addr() != bed.ClientAddr(1) || r.Error != syscall.ECONNABORTED || r.Has(AttrResetReason) || r.Has(AttrResetFlags) {
		t.Errorf("client: %v: want the path-1 subflow, error ECONNABORTED, no reset attributes", r)
	}
	r = serverEvents.next(t, "SUB_CLOSED on the server", kindOf(SubClosed, serverToken))
	t.Logf("server: %v", r)
	if r.Remote.Addr() != bed.ClientAddr(1) || r.Error != syscall.ECONNRESET ||
		!r.Has(AttrResetReason) || r.ResetReason != ResetUnspecified || !r.Has(AttrResetFlags) || r.ResetFlags != 0 {
		t.Errorf("server: %v: want the path-1 subflow, error ECONNRESET, reset reason 0, flags 0", r)
	}

	// The connection lives on over its initial subflow.
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	for _, r := range clientEvents.drain(100 * time.Millisecond) {
		if r.Kind == Closed {
			t.Errorf("the connection closed: %v", r)
		}
	}
}

// TestJoinRefused lets the server refuse every join (`ip mptcp limits set
// subflows 0` on the server). Measured on 6.18: the client reports
// SUB_ESTABLISHED for the join, then SUB_CLOSED with neither an error nor
// reset attributes; the server reports no subflow event at all. (nstat
// counts, on the client: MPJoinSynTx, MPJoinSynAckRx, MPRstTx, one
// TcpOutRsts; on the server: MPJoinSynRx, MPJoinRejected, one TcpOutRsts.)
func TestJoinRefused(t *testing.T) {
	testenv.CheckSockets(t)
	bed := newBed(t, testbed.Config{Paths: 2})
	if _, err := bed.Server.Run("ip", "mptcp", "limits", "set", "subflows", "0"); err != nil {
		t.Fatal(err)
	}
	clientEvents := collect(t, openIn(t, bed.Client))
	serverEvents := collect(t, openIn(t, bed.Server))
	srv := serve(t, bed, false)
	c := dial(t, bed, srv.port)
	token := tokenOf(t, c)
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	serverToken := tokenOf(t, srv.accept(t))

	sub := clientEvents.next(t, "SUB_ESTABLISHED", kindOf(SubEstablished, token))
	r := clientEvents.next(t, "SUB_CLOSED", kindOf(SubClosed, token))
	t.Logf("client: %v", r)
	want := sub.Event
	want.Kind = SubClosed
	if r.Event != want {
		t.Errorf("client: %v: want the subflow of %v, without error or reset attributes", r, sub)
	}
	for _, r := range serverEvents.drain(200 * time.Millisecond) {
		if r.Token == serverToken && (r.Kind == SubEstablished || r.Kind == SubClosed) {
			t.Errorf("server: %v: want no subflow event for a refused join", r)
		}
	}
}
