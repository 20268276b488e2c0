// Package probe holds tests that ask the running kernel, with raw
// getsockopt calls, which MPTCP socket options it answers, and build the
// two-namespace, two-path topology the project's tests rely on. They print
// "MPTCPX-FEATURE name=value" lines that scripts/kernel-matrix collects into
// its table, and prove the matrix pipeline on every kernel it boots.
package probe
