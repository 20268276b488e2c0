package netns_test

import (
	"net"
	"strconv"
	"testing"

	"github.com/mptcpx/mptcpx/internal/mibstat"
	"github.com/mptcpx/mptcpx/internal/netns"
	"github.com/mptcpx/mptcpx/internal/pmconfig"
	"github.com/mptcpx/mptcpx/internal/testbed"
	"github.com/mptcpx/mptcpx/internal/testenv"
)

// TestOneVisit reads what the engine needs of a namespace in one visit:
// the path-manager configuration and a counter reader, from a socket of
// the bed's client namespace, on the test's goroutine. The reader then
// keeps reading that namespace's counters without entering it again.
func TestOneVisit(t *testing.T) {
	testenv.CheckSockets(t)
	bed := testbed.New(t, testbed.Config{Paths: 2})
	if _, err := bed.Client.Run("ip", "mptcp", "limits", "set", "subflows", "5", "add_addr_accepted", "3"); err != nil {
		t.Fatal(err)
	}
	rc := rawConn(t, udpIn(t, bed.Client))
	var cfg *pmconfig.Config
	var r *mibstat.Reader
	err := netns.Do(rc, func() error {
		var err error
		if cfg, err = pmconfig.Read(); err != nil {
			return err
		}
		r, err = mibstat.Open()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if want := (pmconfig.Limits{Subflows: 5, AddAddrAccepted: 3}); cfg.Limits != want {
		t.Errorf("limits %+v, want the client namespace's %+v", cfg.Limits, want)
	}
	if len(cfg.Endpoints) != 1 || cfg.Endpoints[0].Addr != bed.ClientAddr(1) {
		t.Errorf("endpoints %v, want the client's endpoint on %v", cfg.Endpoints, bed.ClientAddr(1))
	}
	var before, after mibstat.Snapshot
	if err := r.Read(&before); err != nil {
		t.Fatal(err)
	}
	var lc net.ListenConfig
	lc.SetMultipathTCP(true)
	var ln net.Listener
	if err := bed.Server.Do(func() (err error) { ln, err = lc.Listen(t.Context(), "tcp4", ":0"); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var c net.Conn
	err = bed.Client.Do(func() (err error) {
		var d net.Dialer
		d.SetMultipathTCP(true)
		c, err = d.Dial("tcp4", net.JoinHostPort(bed.ServerAddr(0).String(), strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := r.Read(&after); err != nil {
		t.Fatal(err)
	}
	if d, ok := mibstat.Delta(&before, &after, mibstat.MPCapableSYNTX); !ok || d != 1 {
		t.Errorf("MPCapableSYNTX grew by %d (present: %v) in the client namespace over one MPTCP dial, want 1", d, ok)
	}
}
