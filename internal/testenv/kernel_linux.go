package testenv

import (
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// KernelAtLeast reports whether the running kernel's release is major.minor
// or later, for tests of behaviour that a kernel version introduced (the
// kernel matrix boots older ones). An unreadable release counts as new.
func KernelAtLeast(major, minor int) bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return true
	}
	// "6.12.95+deb12-cloud-amd64", "6.1.0-50-cloud-amd64", "6.18-rc1".
	parts := strings.SplitN(unix.ByteSliceToString(u.Release[:]), ".", 3)
	if len(parts) < 2 {
		return true
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(leadingDigits(parts[1]))
	if err1 != nil || err2 != nil {
		return true
	}
	return ma > major || ma == major && mi >= minor
}

func leadingDigits(s string) string {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return s[:i]
		}
	}
	return s
}
