package mibstat

import (
	"bytes"
	"errors"
	"fmt"
	"iter"
	"strings"
)

var (
	// ErrNoMPTCP reports that the text has no MPTcpExt section: the
	// kernel has no MPTCP (Debian builds 5.10 without it, for instance).
	// It wraps errors.ErrUnsupported.
	ErrNoMPTCP = fmt.Errorf("mibstat: no MPTcpExt counters (the kernel has no MPTCP): %w", errors.ErrUnsupported)

	// ErrMalformed is wrapped by the errors about text that does not look
	// like what the kernel prints: a names line without a values line,
	// counts that differ, a value that is not a decimal number.
	ErrMalformed = errors.New("mibstat: malformed MPTcpExt counters")

	// ErrClosed is returned by Reader.Read after Close.
	ErrClosed = errors.New("mibstat: reader closed")
)

// prefix starts both lines of the MPTCP section of /proc/net/netstat:
// first the names, then the values, in the same order (mptcp_seq_show in
// net/mptcp/mib.c).
const prefix = "MPTcpExt:"

// Snapshot holds the MPTcpExt counters of one reading: every counter the
// kernel printed, by name, in the kernel's order. The zero value is an
// empty snapshot in which every counter is absent.
//
// Reading into the same Snapshot again does not allocate as long as the
// kernel prints the same names (always, for a given kernel): the names are
// parsed once and shared by the snapshots read after them, and only the
// values are written.
type Snapshot struct {
	l      *layout  // nil: empty
	values []uint64 // values[i] belongs to l.names[i]
}

// layout is what a names line says, shared (read-only) by every Snapshot
// parsed from the same line.
type layout struct {
	header []byte   // the names line as printed, to recognise it
	names  []string // counter names in the kernel's order
	index  [numCounters]int16
}

// Len returns the number of counters in the snapshot.
func (s *Snapshot) Len() int { return len(s.values) }

// Get returns the value of c and true, or 0 and false when the kernel did
// not print c (older kernels have fewer counters).
func (s *Snapshot) Get(c Counter) (uint64, bool) {
	if s.l == nil || c >= numCounters {
		return 0, false
	}
	i := s.l.index[c]
	if i < 0 {
		return 0, false
	}
	return s.values[i], true
}

// Has reports whether the kernel printed c.
func (s *Snapshot) Has(c Counter) bool {
	_, ok := s.Get(c)
	return ok
}

// Lookup returns the value of the counter the kernel prints as name.
func (s *Snapshot) Lookup(name string) (uint64, bool) {
	if s.l == nil {
		return 0, false
	}
	for i, n := range s.l.names {
		if n == name {
			return s.values[i], true
		}
	}
	return 0, false
}

// All yields every counter, name and value, in the kernel's order.
func (s *Snapshot) All() iter.Seq2[string, uint64] {
	return func(yield func(string, uint64) bool) {
		if s.l == nil {
			return
		}
		for i, n := range s.l.names {
			if !yield(n, s.values[i]) {
				return
			}
		}
	}
}

// CopyFrom makes s a copy of src, reusing s's storage: it allocates only
// when s has never held as many counters.
func (s *Snapshot) CopyFrom(src *Snapshot) {
	s.l = src.l
	s.values = append(s.values[:0], src.values...)
}

// Reset empties s, keeping its storage.
func (s *Snapshot) Reset() {
	s.l = nil
	s.values = s.values[:0]
}

// Delta returns how much counter c grew from prev to cur, and false when
// either snapshot lacks it. Counters are unsigned longs that only grow; the
// difference is taken modulo 2^64, so a wrap-around still gives the
// growth. For the gauge MPCurrEstab compare the values themselves.
func Delta(prev, cur *Snapshot, c Counter) (uint64, bool) {
	p, ok1 := prev.Get(c)
	n, ok2 := cur.Get(c)
	if !ok1 || !ok2 {
		return 0, false
	}
	return n - p, true
}

// String lists the counters that are not zero, "name=value" separated by
// spaces.
func (s *Snapshot) String() string {
	var b strings.Builder
	for n, v := range s.All() {
		if v == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(n)
		b.WriteByte('=')
		b.WriteString(itoa(v))
	}
	return b.String()
}

// Parse reads the MPTcpExt section of text in the format of
// /proc/net/netstat (any other sections are skipped) into s. It returns
// ErrNoMPTCP when there is no such section and an error wrapping
// ErrMalformed when the section is not as the kernel prints it; s is then
// empty. Parse never panics, and does not allocate when s last held a
// snapshot with the same names.
func Parse(text []byte, s *Snapshot) error {
	names, values, err := section(text)
	if err != nil {
		s.Reset()
		return err
	}
	l := s.l
	if l == nil || !bytes.Equal(l.header, names) {
		l = newLayout(names)
	}
	s.values = s.values[:0]
	for len(values) > 0 {
		var v uint64
		var ok bool
		v, values, ok = nextNumber(values)
		if !ok {
			s.Reset()
			return fmt.Errorf("%w: a value is not a decimal number of 64 bits", ErrMalformed)
		}
		s.values = append(s.values, v)
	}
	if len(s.values) != len(l.names) {
		n := len(s.values)
		s.Reset()
		return fmt.Errorf("%w: %d names but %d values", ErrMalformed, len(l.names), n)
	}
	s.l = l
	return nil
}

// section finds the two MPTcpExt lines and returns what follows the prefix
// on each.
func section(text []byte) (names, values []byte, err error) {
	line, rest, ok := findLine(text)
	if !ok {
		return nil, nil, ErrNoMPTCP
	}
	values, _, ok = cutLine(rest)
	if !ok || !bytes.HasPrefix(values, []byte(prefix)) {
		return nil, nil, fmt.Errorf("%w: the names line is not followed by a values line", ErrMalformed)
	}
	return line[len(prefix):], values[len(prefix):], nil
}

// findLine returns the first line of text that starts with prefix, and the
// text after it.
func findLine(text []byte) (line, rest []byte, ok bool) {
	for len(text) > 0 {
		line, rest, _ = cutLine(text)
		if bytes.HasPrefix(line, []byte(prefix)) {
			return line, rest, true
		}
		text = rest
	}
	return nil, nil, false
}

// cutLine splits text after its first line; ok is false when text is
// empty.
func cutLine(text []byte) (line, rest []byte, ok bool) {
	if len(text) == 0 {
		return nil, nil, false
	}
	if i := bytes.IndexByte(text, '\n'); i >= 0 {
		return text[:i], text[i+1:], true
	}
	return text, nil, true
}

// nextNumber parses the next space-separated decimal number of b; ok is
// false when it is not one or does not fit 64 bits. Trailing spaces with
// no number after them are consumed too.
func nextNumber(b []byte) (v uint64, rest []byte, ok bool) {
	b = trimSpaces(b)
	if len(b) == 0 {
		return 0, nil, false
	}
	i := 0
	for ; i < len(b) && b[i] != ' '; i++ {
		d := b[i] - '0'
		if d > 9 || v > (1<<64-1-uint64(d))/10 {
			return 0, nil, false
		}
		v = v*10 + uint64(d)
	}
	return v, trimSpaces(b[i:]), true
}

func trimSpaces(b []byte) []byte {
	for len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	return b
}

// newLayout parses a names line (after the prefix).
func newLayout(names []byte) *layout {
	l := &layout{header: bytes.Clone(names)}
	for i := range l.index {
		l.index[i] = -1
	}
	l.names = strings.Fields(string(names))
	for c, name := range counterNames {
		for i, n := range l.names {
			if n == name && i <= 1<<15-1 {
				l.index[c] = int16(i)
				break
			}
		}
	}
	return l
}
