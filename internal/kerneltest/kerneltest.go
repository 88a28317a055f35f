// Package kerneltest holds helpers for tests that need the real kernel.
//
// Rule: where a test cannot run (not root, no BTF), it is skipped on a
// developer's machine but fails under CI (CI=true), so that a skip never
// hides a regression.
package kerneltest

import (
	"os"
	"testing"
)

// Require fails or skips t unless it runs as root on a kernel with BTF.
func Require(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Unavailable(t, "needs root to load eBPF programs")
	}
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		Unavailable(t, "needs kernel BTF (/sys/kernel/btf/vmlinux): %v", err)
	}
}

// Unavailable skips t, or fails it under CI.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("kernel test cannot run under CI: "+format, args...)
	}
	t.Skipf(format, args...)
}
