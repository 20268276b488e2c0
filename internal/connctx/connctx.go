// Package connctx keeps the connection that mptcpx.ConnContext puts in an
// http.Server's request contexts. Package mptcpx puts it there and finds it
// with FromContext; package mptcpxotel, which mptcpx imports and which
// therefore cannot import mptcpx, finds it there for LinkHandler.
package connctx

import (
	"context"
	"net"
)

// key is the context key of the connection.
type key struct{}

// With returns ctx carrying c.
func With(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, key{}, c)
}

// From returns the connection With put in ctx, nil if none.
func From(ctx context.Context) net.Conn {
	c, _ := ctx.Value(key{}).(net.Conn)
	return c
}
