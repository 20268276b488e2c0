//go:build !linux

package testenv

// KernelAtLeast reports true: only Linux kernels are told apart.
func KernelAtLeast(major, minor int) bool { return true }
