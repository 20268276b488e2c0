// Package connwrap looks inside connections that wrap others, the two
// ways Go's wrappers expose what they wrap: a NetConn method (as
// crypto/tls.Conn has) or an exported embedded net.Conn field (as the
// connections of golang.org/x/net/netutil's LimitListener have). Package
// mptcpx uses it to find its *Conn under a wrapper, package mptcpxotel to find a
// connection's span.
package connwrap

import (
	"net"
	"reflect"
)

// MaxDepth bounds how many wrappers are looked through: real programs nest
// a few (TLS over a connection-limiting listener, say), never more.
const MaxDepth = 8

var netConnType = reflect.TypeFor[net.Conn]()

// Unwrap returns the connection c wraps, nil when it wraps nothing known.
// When it is found in an embedded field of a struct c points to, slot is
// that field, settable: the caller may put another connection in its
// place.
func Unwrap(c net.Conn) (inner net.Conn, slot reflect.Value) {
	if w, ok := c.(interface{ NetConn() net.Conn }); ok {
		return w.NetConn(), reflect.Value{}
	}
	v := reflect.ValueOf(c)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return nil, reflect.Value{}
	}
	v = v.Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if !f.Anonymous || !f.IsExported() || f.Type != netConnType {
			continue
		}
		if fv := v.Field(i); !fv.IsNil() {
			return fv.Interface().(net.Conn), fv
		}
	}
	return nil, reflect.Value{}
}

// Find returns the first connection, c itself or one it wraps, for which
// match reports true; nil if none.
func Find(c net.Conn, match func(net.Conn) bool) net.Conn {
	for range MaxDepth {
		if c == nil {
			return nil
		}
		if match(c) {
			return c
		}
		c, _ = Unwrap(c)
	}
	return nil
}
