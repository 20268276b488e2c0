package testbed

import (
	"fmt"
	"testing"
)

// BenchmarkNewClose measures creating and tearing down a bed, which tests do
// many times.
func BenchmarkNewClose(b *testing.B) {
	for _, cfg := range []Config{
		{Paths: 2},
		{Paths: 4, IPv6: true},
		{Paths: 2, RateLimit: map[int]string{0: "10mbit"}},
	} {
		name := fmt.Sprintf("paths=%d/ipv6=%v/ratelimit=%v", cfg.Paths, cfg.IPv6, len(cfg.RateLimit) > 0)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bed := New(b, cfg)
				if err := bed.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
