package testenv

import "testing"

// SteadyAllocs returns the fewest allocations per call of f that
// testing.AllocsPerRun measured in up to five rounds of runs calls, stopping
// at the first round that saw none. AllocsPerRun counts every allocation
// of the process while it runs: on a loaded machine a round lasts longer
// and catches the sporadic work of other goroutines (a namespace's path
// event watcher receiving the events of other programs' connections), which
// a second round does not; an allocation made by f itself shows in every
// round.
func SteadyAllocs(runs int, f func()) float64 {
	fewest := testing.AllocsPerRun(runs, f)
	for round := 1; round < 5 && fewest != 0; round++ {
		fewest = min(fewest, testing.AllocsPerRun(runs, f))
	}
	return fewest
}
