package nsinfo

import (
	"errors"
	"fmt"
	"slices"
	"syscall"
	"time"

	"github.com/mptcpx/mptcpx/conntrace"
	"github.com/mptcpx/mptcpx/internal/mibstat"
	"github.com/mptcpx/mptcpx/internal/netns"
	"github.com/mptcpx/mptcpx/internal/pathdiag"
	"github.com/mptcpx/mptcpx/internal/pmconfig"
)

// Config is one reading of a namespace's configuration. It is never
// changed once published: a new reading publishes a new Config.
type Config struct {
	// Read is when it was read.
	Read time.Time
	// Diag is what the path diagnosis uses.
	Diag pathdiag.Namespace
	// PM is what pmconfig read, nil when the namespace could not be
	// entered; Err says why.
	PM  *pmconfig.Config
	Err error
	// BlackholeTimeout is net.mptcp.blackhole_timeout, when HasBlackholeTimeout.
	BlackholeTimeout    time.Duration
	HasBlackholeTimeout bool
}

// Age returns how old the reading is.
func (c *Config) Age(now time.Time) time.Duration { return now.Sub(c.Read) }

// loadLocked starts a reading of ns's configuration on a goroutine of its
// own, entering the namespace through rc. r.mu is held.
func (r *Registry) loadLocked(ns *Namespace, rc syscall.RawConn) {
	ns.loading, ns.again, ns.lastLoad = true, false, r.now()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.load(ns, rc)
	}()
}

// load reads ns's configuration, and opens its counter reader when it has
// none, in one visit of the namespace (rc nil: the process's own, read
// from this goroutine's thread, which is in it: only locked goroutines
// enter other namespaces). It publishes the Config and has the
// connections of the namespace diagnosed again when what they use changed.
func (r *Registry) load(ns *Namespace, rc syscall.RawConn) {
	ns.cmu.Lock()
	needReader := ns.reader == nil && ns.readerErr == nil
	ns.cmu.Unlock()
	var (
		pm          *pmconfig.Config
		reader      *mibstat.Reader
		readerErr   error
		name        string
		blackholeOK bool
	)
	visit := func() error {
		pm, _ = pmconfig.Read()
		if needReader {
			reader, readerErr = mibstat.Open()
		}
		name = threadNamespaceName()
		return nil
	}
	var err error
	if rc == nil {
		err = visit()
	} else {
		err = netns.Do(rc, visit)
	}
	c := &Config{Read: r.now(), PM: pm, Err: err}
	if err != nil {
		c.PM = nil
	}

	ns.cmu.Lock()
	switch {
	case !needReader:
	case ns.reader != nil || ns.readerErr != nil:
		// Opened meanwhile, for a connection that could not wait.
		if reader != nil {
			reader.Close()
		}
	default:
		ns.reader, ns.readerErr = reader, readerErr
		ns.readLocked(r.now())
	}
	if name != "" {
		ns.name = name
	}
	blackholeOK = ns.snap.Has(mibstat.Blackhole)
	ns.cmu.Unlock()

	c.Diag = diagNamespace(c.PM, blackholeOK)
	if c.PM != nil && c.PM.SysctlsErr == nil {
		c.BlackholeTimeout, c.HasBlackholeTimeout = c.PM.Sysctls.BlackholeTimeout()
	}

	r.mu.Lock()
	old := ns.cfg.Swap(c)
	if old == nil {
		close(ns.loaded)
	}
	ns.loading = false
	forgotten := ns.forgotten
	var targets []Target
	if !forgotten && (old == nil || !sameDiag(&old.Diag, &c.Diag)) {
		for h := range ns.handles {
			targets = append(targets, h.t)
		}
	}
	if !forgotten && ns.again && len(ns.handles) > 0 {
		ns.again = false
		if ns.timer == nil {
			ns.timer = time.AfterFunc(MinRefresh, func() { r.refreshAfterWait(ns) })
		}
	}
	r.mu.Unlock()
	if forgotten && reader != nil {
		ns.closeReader()
	}
	for _, t := range targets {
		t.Reconsider()
	}
}

// diagNamespace turns what pmconfig read into what the diagnosis uses.
func diagNamespace(pm *pmconfig.Config, blackholeCounter bool) pathdiag.Namespace {
	var d pathdiag.Namespace
	d.SynRetransBeforeFallback = 2
	d.BlackholeDetection = blackholeCounter
	if pm == nil {
		return d
	}
	d.Entered = true
	if pm.SysctlsErr == nil {
		switch v, ok := pm.Sysctls.PathManager(); {
		case !ok:
		case v == pmconfig.PathManagerKernel:
			d.PathManager = conntrace.PathManagerKernel
		case v == pmconfig.PathManagerUserspace:
			d.PathManager = conntrace.PathManagerUserspace
		default:
			d.PathManager = conntrace.PathManagerOther
		}
		if n, ok := pm.Sysctls.SynRetransBeforeTCPFallback(); ok {
			d.SynRetransBeforeFallback = n
		}
		if _, ok := pm.Sysctls.BlackholeTimeout(); ok {
			d.BlackholeDetection = true
		}
	}
	if pm.EndpointsErr == nil {
		d.EndpointsKnown = true
		d.Endpoints = make([]pathdiag.Endpoint, 0, len(pm.Endpoints))
		for _, e := range pm.Endpoints {
			d.Endpoints = append(d.Endpoints, pathdiag.Endpoint{Addr: e.Addr, Signal: e.Flags&pmconfig.Signal != 0, Subflow: e.Flags&pmconfig.Subflow != 0})
		}
	}
	if pm.LimitsErr == nil {
		d.LimitsKnown = true
		d.SubflowsLimit, d.AddAddrAcceptedLimit = pm.Limits.Subflows, pm.Limits.AddAddrAccepted
	}
	return d
}

// sameDiag reports whether two readings give the diagnosis the same
// namespace.
func sameDiag(a, b *pathdiag.Namespace) bool {
	return a.Entered == b.Entered && a.PathManager == b.PathManager &&
		a.EndpointsKnown == b.EndpointsKnown && slices.Equal(a.Endpoints, b.Endpoints) &&
		a.LimitsKnown == b.LimitsKnown && a.SubflowsLimit == b.SubflowsLimit && a.AddAddrAcceptedLimit == b.AddAddrAcceptedLimit &&
		a.BlackholeDetection == b.BlackholeDetection && a.SynRetransBeforeFallback == b.SynRetransBeforeFallback
}

// Describe says in words what could not be read of the namespace, "" when
// everything was.
func (c *Config) Describe() string {
	if c == nil {
		return "not read yet"
	}
	if c.Err != nil {
		return c.Err.Error()
	}
	var errs []error
	for _, e := range []error{c.PM.LimitsErr, c.PM.EndpointsErr, c.PM.SysctlsErr} {
		if e != nil && !slices.Contains(errs, e) {
			errs = append(errs, e)
		}
	}
	if len(errs) == 0 {
		return ""
	}
	return fmt.Sprint(errors.Join(errs...))
}
