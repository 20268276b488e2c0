package mptcpxgrpc

import (
	"google.golang.org/grpc/credentials"

	"github.com/mptcpx/mptcpx"
)

// AuthInfo is what the handshakes of NewCredentials return when they find a
// *mptcpx.Conn: the AuthInfo of the wrapped credentials and the connection.
// grpc-go puts it in peer.Peer.AuthInfo, on both sides: in a server
// handler's context (peer.FromContext), and on the client after an RPC
// with the grpc.Peer call option or in a stream's Context.
//
// It behaves as the wrapped AuthInfo does wherever grpc-go looks at an
// AuthInfo through an interface: AuthType, the security level that
// per-RPC credentials check (credentials.CheckSecurityLevel), and what
// channelz shows. Code that asserts a concrete type, such as
// p.AuthInfo.(credentials.TLSInfo), must look at the embedded AuthInfo
// instead; InnerAuthInfo does both:
//
//	tlsInfo, ok := mptcpxgrpc.InnerAuthInfo(p.AuthInfo).(credentials.TLSInfo)
type AuthInfo struct {
	// AuthInfo is the wrapped credentials' AuthInfo: credentials.TLSInfo
	// for TLS, insecure's for plaintext. It may be nil if the wrapped
	// credentials returned none.
	credentials.AuthInfo

	// Conn is the connection the handshake ran on.
	Conn *mptcpx.Conn
}

// AuthType returns the wrapped AuthInfo's AuthType ("tls", "insecure",
// ...), or "" when there is none.
func (a AuthInfo) AuthType() string {
	if a.AuthInfo == nil {
		return ""
	}
	return a.AuthInfo.AuthType()
}

// GetCommonAuthInfo returns the wrapped AuthInfo's security level, which
// credentials.CheckSecurityLevel reads (per-RPC credentials such as OAuth
// tokens refuse to travel below PrivacyAndIntegrity). When the wrapped
// AuthInfo has none it returns the zero CommonAuthInfo, which the check
// treats exactly as an AuthInfo without the method.
func (a AuthInfo) GetCommonAuthInfo() credentials.CommonAuthInfo {
	if ci, ok := a.AuthInfo.(interface {
		GetCommonAuthInfo() credentials.CommonAuthInfo
	}); ok {
		return ci.GetCommonAuthInfo()
	}
	return credentials.CommonAuthInfo{}
}

// GetSecurityValue returns the wrapped AuthInfo's security information for
// channelz (the TLS cipher suite and certificates), nil when it has none.
func (a AuthInfo) GetSecurityValue() credentials.ChannelzSecurityValue {
	if si, ok := a.AuthInfo.(credentials.ChannelzSecurityInfo); ok {
		return si.GetSecurityValue()
	}
	return nil
}

// InnerAuthInfo returns the wrapped credentials' AuthInfo when ai is an
// AuthInfo of this package, and ai itself otherwise.
func InnerAuthInfo(ai credentials.AuthInfo) credentials.AuthInfo {
	if a, ok := ai.(AuthInfo); ok {
		return a.AuthInfo
	}
	return ai
}

// withConn returns ai with c added, or ai unchanged when c is nil.
func withConn(ai credentials.AuthInfo, c *mptcpx.Conn) credentials.AuthInfo {
	if c == nil {
		return ai
	}
	return AuthInfo{AuthInfo: ai, Conn: c}
}
