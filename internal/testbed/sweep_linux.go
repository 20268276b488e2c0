package testbed

import (
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"strconv"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// netnsDir is where `ip netns` keeps named namespaces.
const netnsDir = "/run/netns"

// NamePrefix starts the name of every namespace a bed creates. The full name
// is NamePrefix + PID + "-" + a hex serial + "-c" (Client) or "-s" (Server):
// unique among concurrent tests and test processes, and it tells Sweep
// which process owns it.
const NamePrefix = "mpx-"

var (
	bedSerial atomic.Uint32
	bedSalt   = rand.Uint32() & 0xfff
	nameRE    = regexp.MustCompile(`^` + NamePrefix + `([0-9]+)-[0-9a-f]+-[cs]$`)
)

// newBaseName returns a fresh name without the side suffix.
func newBaseName() string {
	return fmt.Sprintf("%s%d-%x%03x", NamePrefix, os.Getpid(), bedSerial.Add(1), bedSalt)
}

// Sweep removes the namespaces of beds whose test process no longer exists,
// for example because it was killed by a timeout before its cleanups ran,
// and returns their names. Namespaces of running processes are kept. New
// calls Sweep once per process.
func Sweep() ([]string, error) {
	entries, err := os.ReadDir(netnsDir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range entries {
		m := nameRE.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		pid, err := strconv.Atoi(m[1])
		if err != nil || pid == os.Getpid() || processExists(pid) {
			continue
		}
		if err := removeNetnsName(e.Name()); err != nil {
			return removed, err
		}
		removed = append(removed, e.Name())
	}
	return removed, nil
}

// processExists reports whether a process with the id pid exists (signal 0
// checks existence and permission without sending anything).
func processExists(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || err == unix.EPERM
}
