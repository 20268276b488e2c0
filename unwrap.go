package mptcpx

import (
	"net"
	"reflect"
)

// maxWrappers bounds how many wrappers are looked through: real programs
// nest a few (TLS over a connection-limiting listener, say), never more.
const maxWrappers = 8

var netConnType = reflect.TypeFor[net.Conn]()

// unwrap returns the connection c wraps, found the two ways wrappers expose
// it: a NetConn method (as crypto/tls.Conn has), or an exported embedded
// net.Conn field (as the connections of golang.org/x/net/netutil's
// LimitListener have). When it is found in such a field of a struct c
// points to, slot is that field, settable: the caller may put another
// connection in its place. inner is nil when c wraps nothing known.
func unwrap(c net.Conn) (inner net.Conn, slot reflect.Value) {
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
