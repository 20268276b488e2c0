package pmevents

import (
	"fmt"
	"testing"
	"time"

	"github.com/mptcpx/mptcpx/internal/testbed"
)

// TestSetKinds: a Listener that asked for the subflow events receives
// those and nothing else of a connection's life (its Created, Established
// and Closed reach an unfiltered Listener of the same namespace), and
// receives everything again once the filter is removed.
func TestSetKinds(t *testing.T) {
	bed := newBed(t, testbed.Config{Paths: 2, NoEndpoints: true})
	if _, err := bed.Client.Run("ip", "mptcp", "endpoint", "add", bed.ClientAddr(1).String(),
		"dev", testbed.Iface(1), "id", fmt.Sprint(testbed.EndpointID(1)), "subflow"); err != nil {
		t.Fatal(err)
	}
	fl := openIn(t, bed.Client)
	if err := fl.SetKinds(SubEstablished, SubClosed); err != nil {
		t.Fatal(err)
	}
	filtered, all := collect(t, fl), collect(t, openIn(t, bed.Client))
	srv := serve(t, bed, false)

	c := dial(t, bed, srv.port)
	token := tokenOf(t, c)
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	filtered.next(t, "SUB_ESTABLISHED", kindOf(SubEstablished, token))
	if err := bed.DeleteEndpoint(1); err != nil {
		t.Fatal(err)
	}
	filtered.next(t, "SUB_CLOSED", kindOf(SubClosed, token))
	c.Close()
	for _, k := range []Kind{Created, Established, SubEstablished, SubClosed, Closed} {
		all.next(t, "unfiltered "+k.String(), kindOf(k, token))
	}
	for _, r := range filtered.drain(200 * time.Millisecond) {
		t.Errorf("filtered: received %v", r)
	}
	if n := fl.Stats().Events; n != 2 {
		t.Errorf("filtered: %d events counted, want 2", n)
	}

	if err := fl.SetKinds(); err != nil {
		t.Fatal(err)
	}
	c = dial(t, bed, srv.port)
	token = tokenOf(t, c)
	filtered.next(t, "CREATED with the filter removed", kindOf(Created, token))
	c.Close()
}
