package mibstat

import (
	"errors"
	"testing"
)

// FuzzParse: Parse never panics, fails only with ErrNoMPTCP or
// ErrMalformed (leaving the snapshot empty), and agrees with the reference
// parser on what it accepts. Each input is parsed into a snapshot that
// already holds the 6.18 capture, so that the reuse of layouts is fuzzed
// too.
func FuzzParse(f *testing.F) {
	f.Add(capture(f))
	f.Add([]byte("MPTcpExt: A B\nMPTcpExt: 1 2\n"))
	f.Add([]byte("MPTcpExt: A\nMPTcpExt: 18446744073709551615"))
	f.Add([]byte("TcpExt: A\nTcpExt: 1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Snapshot
		if err := Parse(capture(t), &s); err != nil {
			t.Fatal(err)
		}
		err := Parse(b, &s)
		if err != nil {
			if !errors.Is(err, ErrNoMPTCP) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is neither ErrNoMPTCP nor ErrMalformed", err)
			}
			if s.Len() != 0 {
				t.Fatalf("%d counters after an error", s.Len())
			}
			return
		}
		names, values, ok := reference(string(b))
		if !ok {
			// The reference accepts only single spaces between
			// values; Parse also takes runs of them.
			return
		}
		if len(names) != s.Len() {
			t.Fatalf("%d counters, the reference finds %d", s.Len(), len(names))
		}
		i := 0
		for n, v := range s.All() {
			if n != names[i] || v != values[i] {
				t.Fatalf("counter %d: %s=%d, reference %s=%d", i, n, v, names[i], values[i])
			}
			i++
		}
		for _, c := range Counters() {
			v, ok := s.Get(c)
			w, found := s.Lookup(c.String())
			if ok != found || v != w {
				t.Fatalf("Get(%v) = %d, %v; Lookup = %d, %v", c, v, ok, w, found)
			}
		}
	})
}
