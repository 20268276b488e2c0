//go:build !linux

package nsinfo

// threadNamespaceName returns "": only Linux has network namespaces.
func threadNamespaceName() string { return "" }
