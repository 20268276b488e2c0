package follow

import (
	"io"
	"testing"
	"time"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/testenv"
	"github.com/mptcpx/mptcpx/mptcpinfo"
)

// addedHooks counts the subflows reported added and removed.
type addedHooks struct {
	nopHooks
	added, removed, addedAtFinal int
}

func (h *addedHooks) Sampled(s *conntrace.Sample) {
	h.added += len(s.Added)
	h.removed += len(s.Removed)
	if s.Final {
		h.addedAtFinal += len(s.Added)
	}
}

// TestNoPhantomSubflowAtClose: read the way 5.16 to 6.4 kernels allow (no
// subflow ids), the stand-in the kernel lists once both directions are shut
// down is not numbered as a new subflow: one subflow added over the whole
// connection, none at the final sample.
func TestNoPhantomSubflowAtClose(t *testing.T) {
	c, s := testenv.LoopbackMPTCP(t)
	for _, m := range []mptcpinfo.Method{mptcpinfo.MethodSplit, mptcpinfo.MethodFullInfo} {
		if mptcpinfo.KernelMethod() != mptcpinfo.MethodFullInfo && m == mptcpinfo.MethodFullInfo {
			continue
		}
		t.Run(m.String(), func(t *testing.T) {
			c, s := c, s
			if m == mptcpinfo.MethodFullInfo {
				c, s = testenv.LoopbackMPTCP(t)
			}
			h := &addedHooks{}
			tr := newTestFollower(NewScheduler(), s, time.Hour, h)
			sc := new(scratch)
			sc.reader.Method = m
			tr.sample(sc, false)
			go io.Copy(io.Discard, s)
			c.Write(make([]byte, 1<<16))
			c.CloseWrite()
			time.Sleep(20 * time.Millisecond)
			tr.sample(sc, false)
			s.CloseWrite()
			io.Copy(io.Discard, c)
			time.Sleep(20 * time.Millisecond)
			tr.sample(sc, false)
			tr.Close()
			if h.added != 1 || h.addedAtFinal != 0 {
				t.Errorf("%d subflows added, %d of them at the final sample; want 1 and 0", h.added, h.addedAtFinal)
			}
		})
	}
}
