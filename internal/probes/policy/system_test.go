package policy

import (
	"os"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/otel-sensor/otel-sensor/internal/kerneltest"
)

// On the machines this project runs on (x86_64, BTF, ring buffer, tp_btf,
// bpf_loop; Debian 12 with Linux 6.18 here) the real system is allowed.
func TestGatherThisMachine(t *testing.T) {
	kerneltest.Require(t)
	if runtime.GOARCH != "amd64" {
		kerneltest.Unavailable(t, "the eBPF objects are built for x86_64")
	}
	f := Gather(Options{Probe: true})

	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	if want := unix.ByteSliceToString(u.Release[:]); f.KernelRelease != want || f.Machine != "x86_64" {
		t.Errorf("kernel %q machine %q, want %q x86_64", f.KernelRelease, f.Machine, want)
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil && f.OSRelease != string(b) {
		t.Errorf("os-release not read from /etc/os-release")
	}
	for name, ft := range map[string]Feature{"BTF": f.BTF, "ring buffer": f.RingBuffer, "tp_btf": f.BTFTracepoints, "bpf_loop": f.Loop} {
		if ft.State != Present {
			t.Errorf("%s: %s (%s)", name, ft.State, ft.Detail)
		}
	}
	if b, err := os.ReadFile(LockdownPath); err == nil && f.Lockdown != ParseLockdown(string(b)) {
		t.Errorf("lockdown %q from %q", f.Lockdown, b)
	}

	v := Evaluate(f)
	if !v.EBPF || v.DenyListed || !strings.Contains(v.Reason, "meets the support policy") {
		t.Fatalf("verdict on this machine: %+v", v)
	}
	if strings.Contains(v.Reason, "not verified") {
		t.Errorf("every feature should have been probed: %s", v.Reason)
	}
	t.Logf("%s (lockdown %q)", v.Reason, f.Lockdown)
}

// Without Probe, nothing touches bpf(): the features it would probe are
// unknown, and unknown never denies.
func TestGatherWithoutProbes(t *testing.T) {
	f := Gather(Options{})
	for name, ft := range map[string]Feature{"ring buffer": f.RingBuffer, "tp_btf": f.BTFTracepoints, "bpf_loop": f.Loop} {
		if ft.State != Unknown || ft.Detail != "not probed" {
			t.Errorf("%s: %+v, want unknown, not probed", name, ft)
		}
	}
	if f.KernelRelease == "" {
		t.Error("no kernel release")
	}
	if v := Evaluate(f); f.BTF.State == Present && (!v.EBPF || !strings.Contains(v.Reason, "not verified: BPF ring buffer (not probed)")) {
		t.Errorf("verdict without probes: %+v", v)
	}
}
