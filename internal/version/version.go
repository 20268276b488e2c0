// Package version holds the version of the mptcpx modules, which are
// released together: github.com/mptcpx/mptcpx is tagged v<Version> and
// github.com/mptcpx/mptcpx/mptcpxgrpc mptcpxgrpc/v<Version>, on the same
// commit (docs/RELEASING.md).
//
// Version is the one place that names the release. Its tests check that the
// rest of the repository agrees with it: every go.mod requires its sibling
// modules at v<Version> (and replaces them with their directories, for
// development in the repository), and the latest release in CHANGELOG.md is
// <Version>.
package version

// Version is the latest release, without the "v" of its tags. mptcpxotel
// reports it as the version of its instrumentation scope.
const Version = "0.1.0"
