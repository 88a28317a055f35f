package ebpf

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkCheckName is what checking one name costs: the user-space work
// for a path string of several names passed by a process in another mount
// namespace (docs/kernel.md). It checks usr/lib from this thread's root
// against the host's /, which are the same here, so every step runs and the
// answer is yes.
func BenchmarkCheckName(b *testing.B) {
	var ns unix.Stat_t
	if err := unix.Stat("/proc/self/ns/mnt", &ns); err != nil {
		b.Skip(err)
	}
	procs := procDirs(uint32(os.Getpid()), uint32(unix.Gettid()), uint32(os.Getppid()))
	if !checkName(procs, uint32(ns.Ino), "root", "/", "usr/lib/os-release") {
		b.Fatal("usr/lib not the same from this thread's root and from /")
	}
	b.ReportAllocs()
	for b.Loop() {
		checkName(procs, uint32(ns.Ino), "root", "/", "usr/lib/os-release")
	}
}
