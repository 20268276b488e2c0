package mptcpx

import "github.com/mptcpx/mptcpx/conntrace"

// PathsLimit says what keeps the connection from having more subflows than
// it has, as of its last full sample: conntrace.PathsLimitNone when
// nothing does (or nothing is known yet), otherwise one of
// conntrace.PathsLimitFallback, PathsLimitJoinRejected,
// PathsLimitJoinFailed, PathsLimitUserspacePM, PathsLimitSubflowsMax,
// PathsLimitAddAddrMax and PathsLimitNoEndpoint (see conntrace.PathsLimit
// for each, and their precedence). It is c.PathsDiagnosis().Limit.
//
// The diagnosis is made on each side of a connection for that side: a
// client without a subflow endpoint reports PathsLimitNoEndpoint, a
// server whose subflows limit refused the client's joins
// PathsLimitSubflowsMax, and the client of that server
// PathsLimitJoinRejected.
func (c *Conn) PathsLimit() conntrace.PathsLimit {
	return c.follower.PathsDiagnosis().Limit
}

// PathsDiagnosis returns the diagnosis of the connection's paths as of its
// last full sample: the limit, with what the kernel showed to decide it
// (this side's limits, its usable endpoints, the addresses the peer
// announced, the join that failed, what could not be read). Its String
// method says it in words, and Remedy gives the command that changes it.
// It reads nothing from the kernel: the sampler keeps it current (at every
// sample that read the connection in full, and at once when the
// connection's network namespace was read), and it stays as it was at
// the connection's last sample once the connection ended.
func (c *Conn) PathsDiagnosis() conntrace.PathsDiagnosis {
	return c.follower.PathsDiagnosis()
}
