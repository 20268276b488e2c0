// Package docsnippets checks that the Go code the project's Markdown shows
// compiles: every ```go block of README.md, docs/*.md and the other .md
// files of the repository is built, against this module's go.mod (the
// library through its replace directive, the OpenTelemetry SDK, its
// exporters, otelhttp, grpc-go and mptcpxgrpc), and must be gofmt-clean.
// Its test has no code of its own to test; it fails, naming the Markdown
// file and line, when a snippet stops compiling:
//
//	cd examples/otel && go test -count=1 ./internal/docsnippets
//
// (-count=1: Go's test cache does not notice changes to files outside the
// module under test, and the Markdown files are outside this one.)
//
// A block is one of:
//
//   - a whole file, when it starts with "package": built as it is, in a
//     package of its own;
//   - an import declaration, when it starts with "import": each path must
//     resolve;
//   - top-level declarations (types, functions, methods), when the line
//     before the fence is <!-- go: decls -->;
//   - otherwise statements: the body of a function func() error, which
//     returns nil after the last statement unless that is a return. The
//     line before the fence may give the function another signature, whose
//     parameters are what the statements use without declaring:
//     <!-- go: func(ctx context.Context, mux *http.ServeMux) error -->.
//     Markdown renders the comment as nothing.
//
// Except in whole files, imports are added for the package names a block
// uses, from the table in the test (mptcpx, mptcpxotel, http, sdktrace,
// stdouttrace, grpc, ...); a name that is not in it is undefined, and the
// check fails. Every variable a block declares must be used, as in any Go
// function.
package docsnippets
