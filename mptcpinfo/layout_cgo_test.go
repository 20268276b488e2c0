//go:build linux && cgo

package mptcpinfo

import (
	"testing"

	"github.com/mptcpx/mptcpx/mptcpinfo/internal/cheaders"
)

// TestLayoutMatchesSystemHeaders checks the Go mirrors against the C headers
// installed on this machine, for the fields those headers declare.
func TestLayoutMatchesSystemHeaders(t *testing.T) {
	c := cheaders.Layout()
	g := goLayout()
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
	if checked < 15 {
		t.Fatalf("only %d fields compared", checked)
	}
}
