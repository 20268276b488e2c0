package testbed

import (
	"fmt"
	"sort"
	"strings"
)

// setupLoss sets up Config.Loss: on each lossy path, links that build GSO
// packets of one segment at most, and on each side an nftables rule that
// drops the given share of the packets received from the other side's
// address on that path.
func (b *Bed) setupLoss() error {
	if len(b.cfg.Loss) == 0 {
		return nil
	}
	paths := make([]int, 0, len(b.cfg.Loss))
	for p := range b.cfg.Loss {
		paths = append(paths, p)
	}
	sort.Ints(paths)
	for _, side := range []struct {
		ns   *NS
		peer func(int) string
	}{
		{b.Client, func(p int) string { return b.ServerAddr(p).String() }},
		{b.Server, func(p int) string { return b.ClientAddr(p).String() }},
	} {
		var links []string
		var rules strings.Builder
		family := "ip"
		if b.cfg.IPv6 {
			family = "ip6"
		}
		rules.WriteString("table inet testbed_loss {\n\tchain input {\n\t\ttype filter hook input priority 0; policy accept;\n")
		for _, p := range paths {
			links = append(links, fmt.Sprintf("link set dev %s gso_max_segs 1", Iface(p)))
			fmt.Fprintf(&rules, "\t\t%s saddr %s numgen random mod 100 < %d drop\n", family, side.peer(p), b.cfg.Loss[p])
		}
		rules.WriteString("\t}\n}\n")
		if err := side.ns.ipBatch(links); err != nil {
			return err
		}
		if _, err := side.ns.run(rules.String(), "nft", "-f", "-"); err != nil {
			return err
		}
	}
	return nil
}
