//go:build !linux

package mptcpx_test

import "os"

const cpuChildEnv = "MPTCPX_CPU_CHILD"

// runCPUChild is the measured process of BenchmarkProcessCPU, which runs on
// Linux only.
func runCPUChild(string) { os.Exit(2) }
