// Module tools holds the programs that the project's scripts build: they
// are kept out of the library's go.mod.
module github.com/mptcpx/mptcpx/internal/tools

go 1.26.0

require golang.org/x/mod v0.42.0
