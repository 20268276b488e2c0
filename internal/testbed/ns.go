package testbed

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
)

// NS is a network namespace of a Bed. Its methods are safe for concurrent use.
type NS struct {
	name string
	h    nsHandle // platform part: an open reference to the namespace
}

// Name is the namespace's name as listed by `ip netns list`, usable with
// `ip -n NAME` and `ip netns exec NAME`.
func (ns *NS) Name() string { return ns.name }

// String returns the namespace's name.
func (ns *NS) String() string { return ns.name }

// Run runs the command args[0] with arguments args[1:] inside the namespace
// and returns its combined standard output and standard error. The child
// process starts in the namespace (it is forked from a thread switched into
// it, as `ip netns exec` does, except that /sys and /etc/netns are not
// remounted), so `ip`, `ss`, `tc` and `sysctl` see the namespace's links,
// sockets and settings. A failure, including a non-zero exit status, is an
// error that names the namespace and the command and quotes the output.
func (ns *NS) Run(args ...string) (string, error) {
	return ns.run("", args...)
}

// SS runs ss(8) with args inside the namespace. "-n" is added so that ports
// and addresses are printed numerically, as the parsers expect.
func (ns *NS) SS(args ...string) (string, error) {
	return ns.Run(append([]string{"ss", "-n"}, args...)...)
}

// run is Run with stdin fed to the command (none when stdin is empty).
func (ns *NS) run(stdin string, args ...string) (string, error) {
	if len(args) == 0 {
		return "", fmt.Errorf("testbed: %s: Run without a command", ns.name)
	}
	var out bytes.Buffer
	err := ns.Do(func() error {
		cmd := exec.Command(args[0], args[1:]...)
		if stdin != "" {
			cmd.Stdin = strings.NewReader(stdin)
		}
		cmd.Stdout = &out
		cmd.Stderr = &out
		return cmd.Run()
	})
	if err != nil {
		msg := strings.TrimSpace(out.String())
		if stdin != "" {
			msg += "\ninput was:\n" + stdin
		}
		return out.String(), fmt.Errorf("testbed: in namespace %s: %s: %w\n%s", ns.name, strings.Join(args, " "), err, msg)
	}
	return out.String(), nil
}
