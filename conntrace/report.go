package conntrace

import "time"

// Reporter is an optional interface of ConnHooks, for hooks that want to
// hear of a live connection at a fixed period even when nothing about it
// changed: a connection that lives for hours and carries little shows
// nothing otherwise until it closes. mptcpx asks ReportPeriod once per
// connection, when it is established, before its first sample, and then
// delivers a Sample with Report set at the first sample at or after each
// period since (the sampling interval rounds it up; a sample may come a
// sixteenth of the interval early). Such a sample is a full reading: it
// lists every subflow with its tcp_info, which a cheap periodic reading of
// an idle connection does not. A period of zero or less asks for no report,
// and costs the connection nothing.
//
// Only connections whose hooks ask pay for the readings. Hooks combined
// with MultiplexConn report at the shortest period any of them asks for,
// and every one of them receives those samples: a hook that reports at a
// longer period of its own counts its periods itself.
type Reporter interface {
	ReportPeriod() time.Duration
}

// ReportPeriod returns the shortest positive period asked for by the hooks
// m calls that implement Reporter; zero when none asks.
func (m multiConn) ReportPeriod() time.Duration {
	var p time.Duration
	for _, ct := range m {
		if r, ok := ct.(Reporter); ok {
			if d := r.ReportPeriod(); d > 0 && (p == 0 || d < p) {
				p = d
			}
		}
	}
	return p
}
