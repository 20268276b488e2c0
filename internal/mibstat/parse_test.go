package mibstat

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/mptcpx/mptcpx/internal/testenv"
)

// capture is /proc/net/netstat as Linux 6.18 printed it (TcpExt, IpExt
// and MPTcpExt, 76 MPTCP counters).
func capture(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/netstat-6.18.txt")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// reference parses the MPTcpExt section the plain way, as the tests'
// independent view: names and values by strings.Fields.
func reference(text string) (names []string, values []uint64, ok bool) {
	var lines [][]string
	for _, l := range strings.Split(text, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == "MPTcpExt:" {
			lines = append(lines, f[1:])
		}
	}
	if len(lines) < 2 || len(lines[0]) != len(lines[1]) {
		return nil, nil, false
	}
	for _, v := range lines[1] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, nil, false
		}
		values = append(values, n)
	}
	return lines[0], values, true
}

func TestParseCapture(t *testing.T) {
	text := capture(t)
	var s Snapshot
	if err := Parse(text, &s); err != nil {
		t.Fatal(err)
	}
	names, values, _ := reference(string(text))
	if s.Len() != len(names) || s.Len() != 76 {
		t.Fatalf("%d counters, the reference parser finds %d (76 on 6.18)", s.Len(), len(names))
	}
	i := 0
	for n, v := range s.All() {
		if n != names[i] || v != values[i] {
			t.Errorf("counter %d: %s=%d, want %s=%d", i, n, v, names[i], values[i])
		}
		i++
	}
	// 6.18 prints every counter the package names.
	for _, c := range Counters() {
		v, ok := s.Get(c)
		if !ok {
			t.Errorf("%v absent from the 6.18 capture", c)
			continue
		}
		if w, _ := s.Lookup(c.String()); w != v {
			t.Errorf("Get(%v) = %d, Lookup = %d", c, v, w)
		}
	}
	if v, ok := s.Lookup("WinProbe"); !ok || v != values[len(values)-1] {
		t.Errorf("Lookup(WinProbe), a counter without a constant = %d, %v", v, ok)
	}
	if _, ok := s.Lookup("NoSuchCounter"); ok {
		t.Error("Lookup of an unknown name reported present")
	}
}

// TestParseOlderKernel: a kernel with fewer counters (6.1 has no
// MPJoinSynTx, MPJoinRejected, MPCurrEstab, Blackhole, ...): those are
// absent, not zero, and the others are where the kernel put them.
func TestParseOlderKernel(t *testing.T) {
	text := "TcpExt: A B\nTcpExt: 1 2\nMPTcpExt: MPCapableSYNRX MPCapableSYNTX MPJoinSynRx AddAddrDrop\nMPTcpExt: 4 3 2 1\n"
	var s Snapshot
	if err := Parse([]byte(text), &s); err != nil {
		t.Fatal(err)
	}
	for c, want := range map[Counter]uint64{MPCapableSYNRX: 4, MPCapableSYNTX: 3, MPJoinSynRx: 2, AddAddrDrop: 1} {
		if v, ok := s.Get(c); !ok || v != want {
			t.Errorf("Get(%v) = %d, %v; want %d", c, v, ok, want)
		}
	}
	for _, c := range []Counter{MPJoinSynTx, MPJoinRejected, MPCurrEstab, Blackhole, MPCapableSYNTXDrop} {
		if v, ok := s.Get(c); ok || s.Has(c) {
			t.Errorf("Get(%v) = %d, present; the kernel did not print it", c, v)
		}
	}
	var empty Snapshot
	if d, ok := Delta(&empty, &s, MPJoinSynRx); ok {
		t.Errorf("Delta from an empty snapshot = %d, present", d)
	}
	if _, ok := empty.Get(MPJoinSynRx); ok || empty.Len() != 0 || empty.String() != "" {
		t.Error("the zero Snapshot is not empty")
	}
	if _, ok := s.Get(numCounters); ok {
		t.Error("Get of an out-of-range Counter reported present")
	}
}

func TestParseNoMPTCP(t *testing.T) {
	var s Snapshot
	Parse(capture(t), &s)
	err := Parse([]byte("TcpExt: A B\nTcpExt: 1 2\nIpExt: C\nIpExt: 3\n"), &s)
	if !errors.Is(err, ErrNoMPTCP) || !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Parse without MPTcpExt: %v, want ErrNoMPTCP wrapping errors.ErrUnsupported", err)
	}
	if s.Len() != 0 {
		t.Errorf("%d counters left after a failed Parse", s.Len())
	}
}

func TestParseMalformed(t *testing.T) {
	for _, text := range []string{
		"MPTcpExt: A B\n",
		"MPTcpExt: A B\nTcpExt: 1 2\n",
		"MPTcpExt: A B\nMPTcpExt: 1\n",
		"MPTcpExt: A B\nMPTcpExt: 1 2 3\n",
		"MPTcpExt: A B\nMPTcpExt: 1 x\n",
		"MPTcpExt: A B\nMPTcpExt: 1 -2\n",
		"MPTcpExt: A\nMPTcpExt: 18446744073709551616\n",
		"MPTcpExt: A\nMPTcpExt: 1\t\n",
	} {
		var s Snapshot
		Parse(capture(t), &s)
		if err := Parse([]byte(text), &s); !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%q) = %v, want ErrMalformed", text, err)
		}
		if s.Len() != 0 {
			t.Errorf("Parse(%q) left %d counters", text, s.Len())
		}
	}
	var s Snapshot
	if err := Parse([]byte("MPTcpExt: A B\nMPTcpExt: 18446744073709551615 0"), &s); err != nil {
		t.Errorf("largest value, no final newline: %v", err)
	}
	if v, _ := s.Lookup("A"); v != 1<<64-1 {
		t.Errorf("A = %d", v)
	}
}

// TestParseNewNames: a different names line (another kernel, or a test
// feeding two) gives a new layout; snapshots parsed before keep theirs.
func TestParseNewNames(t *testing.T) {
	var a, b Snapshot
	if err := Parse([]byte("MPTcpExt: AddAddr RmAddr\nMPTcpExt: 1 2\n"), &a); err != nil {
		t.Fatal(err)
	}
	b.CopyFrom(&a)
	if err := Parse([]byte("MPTcpExt: RmAddr Blackhole AddAddr\nMPTcpExt: 5 6 7\n"), &a); err != nil {
		t.Fatal(err)
	}
	if v, _ := a.Get(AddAddr); v != 7 {
		t.Errorf("after new names AddAddr = %d, want 7", v)
	}
	if v, ok := b.Get(AddAddr); v != 1 || b.Has(Blackhole) || !ok {
		t.Errorf("the copy taken before changed: AddAddr %d, Blackhole present %v", v, b.Has(Blackhole))
	}
	if d, ok := Delta(&b, &a, RmAddr); !ok || d != 3 {
		t.Errorf("Delta(RmAddr) = %d, %v", d, ok)
	}
	if got := a.String(); got != "RmAddr=5 Blackhole=6 AddAddr=7" {
		t.Errorf("String() = %q", got)
	}
}

func TestDeltaWraps(t *testing.T) {
	var prev, cur Snapshot
	Parse([]byte("MPTcpExt: AddAddr\nMPTcpExt: 18446744073709551614\n"), &prev)
	Parse([]byte("MPTcpExt: AddAddr\nMPTcpExt: 3\n"), &cur)
	if d, ok := Delta(&prev, &cur, AddAddr); !ok || d != 5 {
		t.Errorf("Delta across the wrap = %d, %v; want 5", d, ok)
	}
}

// TestParseAllocs: reading the same kernel's text again allocates nothing.
func TestParseAllocs(t *testing.T) {
	text := capture(t)
	var s, c Snapshot
	if err := Parse(text, &s); err != nil {
		t.Fatal(err)
	}
	c.CopyFrom(&s)
	allocs := testenv.SteadyAllocs(100, func() {
		Parse(text, &s)
		c.CopyFrom(&s)
		Delta(&c, &s, MPJoinSynTx)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per Parse, CopyFrom and Delta, want 0", allocs)
	}
}

func TestCounterString(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Counters() {
		n := c.String()
		if n == "" || seen[n] || strings.ContainsAny(n, " \n") {
			t.Errorf("Counter %d has name %q", c, n)
		}
		seen[n] = true
	}
	if got := numCounters.String(); got != "Counter("+strconv.Itoa(int(numCounters))+")" {
		t.Errorf("String of an unknown Counter = %q", got)
	}
}
