package bundle

import (
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/otel-sensor/otel-sensor/internal/probes/policy"
)

// Kernel is the kernel and distribution part.
type Kernel struct {
	Uname Uname `json:"uname"`
	// OSRelease is the text of /etc/os-release (or /usr/lib/os-release).
	OSRelease string `json:"os_release"`
	// Cmdline is /proc/cmdline: the kernel's boot parameters.
	Cmdline  string `json:"cmdline"`
	Lockdown string `json:"lockdown"`
	// Features are the kernel support policy's: BTF, the ring buffer, BTF
	// tracepoint programs, bpf_loop.
	Features map[string]Feature `json:"features"`
	Policy   Policy             `json:"policy"`
	// Sysctls are the settings that bear on BPF, by name; a value that
	// cannot be read is absent.
	Sysctls map[string]string `json:"sysctls"`
}

// Uname is uname(2).
type Uname struct {
	Sysname  string `json:"sysname"`
	Nodename string `json:"nodename"`
	Release  string `json:"release"`
	Version  string `json:"version"`
	Machine  string `json:"machine"`
}

// Feature is a probed kernel feature.
type Feature struct {
	State  string `json:"state"` // present, missing or unknown
	Detail string `json:"detail,omitempty"`
}

// Policy is the kernel support policy's verdict.
type Policy struct {
	EBPFAllowed  bool   `json:"ebpf_allowed"`
	DenyListed   bool   `json:"deny_listed"`
	Reason       string `json:"reason"`
	Distribution string `json:"distribution"`
}

// sysctls are the settings that bear on loading and running BPF programs.
func sysctls() []string {
	return []string{
		"kernel.unprivileged_bpf_disabled",
		"kernel.bpf_stats_enabled",
		"net.core.bpf_jit_enable",
		"net.core.bpf_jit_harden",
		"kernel.perf_event_paranoid",
		"kernel.kptr_restrict",
	}
}

// KernelFacts is the kernel part, from the policy's facts and verdict
// (policy.Gather, policy.Evaluate) and what else the host says.
func KernelFacts(f policy.Facts, v policy.Verdict) Kernel {
	k := Kernel{
		OSRelease: f.OSRelease,
		Lockdown:  f.Lockdown,
		Features: map[string]Feature{
			"btf":             feature(f.BTF),
			"ring_buffer":     feature(f.RingBuffer),
			"btf_tracepoints": feature(f.BTFTracepoints),
			"bpf_loop":        feature(f.Loop),
		},
		Policy:  Policy{EBPFAllowed: v.EBPF, DenyListed: v.DenyListed, Reason: v.Reason, Distribution: v.Distribution.String()},
		Sysctls: map[string]string{},
	}
	if k.Lockdown == "" {
		k.Lockdown = "unknown"
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err == nil {
		k.Uname = Uname{
			Sysname:  unix.ByteSliceToString(u.Sysname[:]),
			Nodename: unix.ByteSliceToString(u.Nodename[:]),
			Release:  unix.ByteSliceToString(u.Release[:]),
			Version:  unix.ByteSliceToString(u.Version[:]),
			Machine:  unix.ByteSliceToString(u.Machine[:]),
		}
	}
	if b, err := os.ReadFile("/proc/cmdline"); err == nil {
		k.Cmdline = strings.TrimSpace(string(b))
	}
	for _, name := range sysctls() {
		if b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(name, ".", "/")); err == nil {
			k.Sysctls[name] = strings.TrimSpace(string(b))
		}
	}
	return k
}

func feature(f policy.Feature) Feature { return Feature{State: f.State.String(), Detail: f.Detail} }
