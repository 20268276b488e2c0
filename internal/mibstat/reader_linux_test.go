package mibstat

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/mptcpx/mptcpx/internal/testenv"
)

// TestReadMatchesFile: Read gives what /proc/thread-self/net/netstat says
// (the reference parser on the file read by os.ReadFile), counter for
// counter, apart from those that moved in between.
func TestReadMatchesFile(t *testing.T) {
	testenv.RequireMPTCP(t)
	r, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var s Snapshot
	if err := r.Read(&s); err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	names, _, ok := reference(string(text))
	if !ok || len(names) != s.Len() {
		t.Fatalf("%d counters; the file has %d (%v)", s.Len(), len(names), ok)
	}
	i := 0
	for n := range s.All() {
		if n != names[i] {
			t.Errorf("counter %d is %s, the file says %s", i, n, names[i])
		}
		i++
	}
	feature("mib_counters", itoa(uint64(s.Len())))
	var missing []string
	for _, c := range Counters() {
		if !s.Has(c) {
			missing = append(missing, c.String())
		}
	}
	if len(missing) == 0 {
		missing = []string{"none"}
	}
	feature("mib_counters_absent", strings.Join(missing, " "))
}

// TestReadAllocs: reading again allocates nothing.
func TestReadAllocs(t *testing.T) {
	testenv.RequireMPTCP(t)
	r, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var s Snapshot
	if err := r.Read(&s); err != nil {
		t.Fatal(err)
	}
	if allocs := testenv.SteadyAllocs(100, func() { r.Read(&s) }); allocs != 0 {
		t.Errorf("%v allocations per Read, want 0", allocs)
	}
}

func TestReadAfterClose(t *testing.T) {
	testenv.RequireMPTCP(t)
	r, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	var s Snapshot
	if err := r.Read(&s); !errors.Is(err, ErrClosed) {
		t.Errorf("Read after Close: %v, want ErrClosed", err)
	}
}

// TestWithoutMPTCP: on a kernel without MPTCP (Debian's 5.10) Open fails
// with ErrNoMPTCP, which matches errors.ErrUnsupported, and leaves no file
// open (TestMain checks).
func TestWithoutMPTCP(t *testing.T) {
	testenv.RequireNoMPTCP(t)
	r, err := Open()
	if err == nil {
		r.Close()
		t.Fatal("Open succeeded on a kernel without MPTCP")
	}
	if !errors.Is(err, ErrNoMPTCP) || !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Open: %v, want ErrNoMPTCP", err)
	}
	feature("mib_counters", "0 (no MPTCP)")
}

// BenchmarkRead reads the test process's counters: pread(2) of the whole
// netstat file, which the kernel prints afresh, then Parse.
func BenchmarkRead(b *testing.B) {
	r, err := Open()
	if err != nil {
		b.Skip(err)
	}
	defer r.Close()
	var s Snapshot
	if err := r.Read(&s); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Read(&s); err != nil {
			b.Fatal(err)
		}
	}
}

// feature prints a line for the kernel matrix's table
// (scripts/kernelmatrix/README.md).
func feature(name, value string) { fmt.Printf("MPTCPX-FEATURE %s=%s\n", name, value) }
