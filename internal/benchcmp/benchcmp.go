// Package benchcmp runs a candidate and its baseline interleaved inside one
// benchmark (A B A B ...), so that a shared, noisy machine slows both alike,
// and reports the medians and their ratio. Absolute times drift here; ratios
// measured in the same run do not.
package benchcmp

import (
	"runtime"
	"slices"
	"testing"
	"time"
)

// Rounds is how many chunks each side runs.
const Rounds = 16

// Run splits b.N operations of each side into Rounds alternating chunks,
// baseline first, and reports base-ns/op, ns/op (the candidate's median, in
// place of the default), ratio (candidate over baseline) and allocs/op of
// the candidate alone. base and cand run their operation n times.
func Run(b *testing.B, base, cand func(n int)) {
	b.Helper()
	per := max(b.N/Rounds, 1)
	baseT := make([]float64, 0, Rounds)
	candT := make([]float64, 0, Rounds)
	var allocs uint64
	var ms runtime.MemStats
	b.ResetTimer()
	for range Rounds {
		start := time.Now()
		base(per)
		baseT = append(baseT, float64(time.Since(start).Nanoseconds())/float64(per))

		runtime.ReadMemStats(&ms)
		before := ms.Mallocs
		start = time.Now()
		cand(per)
		candT = append(candT, float64(time.Since(start).Nanoseconds())/float64(per))
		runtime.ReadMemStats(&ms)
		allocs += ms.Mallocs - before
	}
	b.StopTimer()
	bm, cm := Median(baseT), Median(candT)
	b.ReportMetric(bm, "base-ns/op")
	b.ReportMetric(cm, "cand-ns/op")
	b.ReportMetric(cm/bm, "ratio")
	b.ReportMetric(float64(allocs)/float64(per*Rounds), "cand-allocs/op")
}

// Median returns the median of xs (xs is reordered).
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}
