package testbed

import (
	"fmt"
	"time"
)

// PollInterval is how often WaitFor checks its condition.
const PollInterval = 20 * time.Millisecond

// WaitFor calls cond every PollInterval until it reports true, returns an
// error, or timeout has passed; the timeout is a deadline for giving up, not
// a measurement. It returns nil once cond held, cond's error, or an error
// describing the timeout. cond is called at least once.
func WaitFor(timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testbed: condition not met within %v", timeout)
		}
		time.Sleep(PollInterval)
	}
}

// WaitMPTCP polls `ss -Mi` in ns until cond holds for the listed MPTCP
// sockets and returns them. On timeout the error quotes the last listing.
func (ns *NS) WaitMPTCP(timeout time.Duration, cond func([]MPTCPSocket) bool) ([]MPTCPSocket, error) {
	var last []MPTCPSocket
	err := WaitFor(timeout, func() (bool, error) {
		var err error
		last, err = ns.MPTCPSockets()
		return err == nil && cond(last), err
	})
	if err != nil {
		return last, fmt.Errorf("%w; ss -Mi in %s showed %s", err, ns.name, describeMPTCP(last))
	}
	return last, nil
}

// WaitTCP polls `ss -ti` in ns until cond holds for the listed TCP sockets
// (subflows included) and returns them. On timeout the error quotes the last
// listing.
func (ns *NS) WaitTCP(timeout time.Duration, cond func([]TCPSocket) bool) ([]TCPSocket, error) {
	var last []TCPSocket
	err := WaitFor(timeout, func() (bool, error) {
		var err error
		last, err = ns.TCPSockets()
		return err == nil && cond(last), err
	})
	if err != nil {
		return last, fmt.Errorf("%w; ss -ti in %s showed %s", err, ns.name, describeTCP(last))
	}
	return last, nil
}

// describeTCP summarizes sockets for error messages.
func describeTCP(socks []TCPSocket) string {
	s := fmt.Sprintf("%d sockets:", len(socks))
	for _, t := range socks {
		s += fmt.Sprintf(" [%s %s->%s sent=%d recv=%d", t.State, t.Local, t.Peer, t.BytesSent, t.BytesReceived)
		if t.MPTCP != nil {
			s += fmt.Sprintf(" token=%08x id=%d", t.MPTCP.LocalToken, t.MPTCP.LocalID)
		}
		s += "]"
	}
	return s
}

// describeMPTCP summarizes MPTCP sockets for error messages.
func describeMPTCP(socks []MPTCPSocket) string {
	s := fmt.Sprintf("%d connections:", len(socks))
	for _, m := range socks {
		s += fmt.Sprintf(" [%s %s->%s token=%08x subflows=%d]", m.State, m.Local, m.Peer, m.Token, m.Subflows)
	}
	return s
}
