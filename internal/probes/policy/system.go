package policy

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/otel-sensor/otel-sensor/internal/osrelease"
)

// Where Gather reads the system.
const (
	BTFPath      = "/sys/kernel/btf/vmlinux"
	LockdownPath = "/sys/kernel/security/lockdown"
)

// Tracepoints are the BTF tracepoints the eBPF provider attaches to
// (docs/kernel.md, Hooks); the BTFTracepoints probe loads a program for
// each.
func Tracepoints() []string {
	return []string{"sched_process_exec", "sched_process_fork", "sched_process_exit", "sys_exit"}
}

// Options say what Gather does.
type Options struct {
	// Probe runs the probes that use the bpf() syscall: it creates a ring
	// buffer map and loads two-instruction programs (never attached),
	// closing each at once. Without it, or when the process has neither
	// CAP_BPF nor CAP_SYS_ADMIN, those features are Unknown.
	Probe bool
}

// Gather returns the Facts of the running system. It does not fail: what
// it cannot read is left empty or Unknown, with the reason in the
// feature's Detail.
func Gather(opts Options) Facts {
	var f Facts
	// os-release(5): the first of these that exists.
	for _, p := range osrelease.Files {
		if b, err := os.ReadFile(p); err == nil {
			f.OSRelease = string(b)
			break
		}
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err == nil {
		f.KernelRelease = unix.ByteSliceToString(u.Release[:])
		f.Machine = unix.ByteSliceToString(u.Machine[:])
	}
	if b, err := os.ReadFile(LockdownPath); err == nil {
		f.Lockdown = ParseLockdown(string(b))
	}
	switch _, err := os.Stat(BTFPath); {
	case err == nil:
		f.BTF = Feature{State: Present}
	case errors.Is(err, fs.ErrNotExist):
		f.BTF = Feature{State: Missing}
	default:
		f.BTF = Feature{Detail: err.Error()}
	}

	notProbed := Feature{Detail: "not probed"}
	if opts.Probe {
		if ok, err := mayLoadBPF(); !ok {
			notProbed.Detail = "not probed: needs CAP_BPF or CAP_SYS_ADMIN"
			if err != nil {
				notProbed.Detail = fmt.Sprintf("not probed: read capabilities: %v", err)
			}
			opts.Probe = false
		}
	}
	if !opts.Probe {
		f.RingBuffer, f.BTFTracepoints, f.Loop = notProbed, notProbed, notProbed
		return f
	}
	// Before 5.11 the kernel charges BPF memory to RLIMIT_MEMLOCK; the
	// provider lifts it the same way when it starts.
	_ = rlimit.RemoveMemlock()
	f.RingBuffer = classify(features.HaveMapType(ebpf.RingBuf))
	if f.BTF.State == Missing {
		f.BTFTracepoints = Feature{State: Missing, Detail: "no BTF"}
	} else {
		f.BTFTracepoints = probeTracepoints()
	}
	f.Loop = classify(features.HaveProgramHelper(ebpf.RawTracepoint, asm.FnLoop))
	return f
}

// ParseLockdown returns the active mode from the text of
// /sys/kernel/security/lockdown ("none [integrity] confidentiality"), or ""
// when none is marked.
func ParseLockdown(text string) string {
	for _, w := range strings.Fields(text) {
		if len(w) > 2 && w[0] == '[' && w[len(w)-1] == ']' {
			return w[1 : len(w)-1]
		}
	}
	return ""
}

// probeTracepoints loads a program that returns 0 as a BTF tracepoint
// program for each tracepoint the provider uses; nothing is attached.
// cilium/ebpf's features.HaveProgramType(ebpf.Tracing) is not used: it
// probes fentry, which hardened kernels refuse while tp_btf loads.
func probeTracepoints() Feature {
	for _, tp := range Tracepoints() {
		prog, err := ebpf.NewProgramWithOptions(&ebpf.ProgramSpec{
			Name:       "probe_tp_btf",
			Type:       ebpf.Tracing,
			AttachType: ebpf.AttachTraceRawTp,
			AttachTo:   tp,
			License:    "GPL",
			Instructions: asm.Instructions{
				asm.LoadImm(asm.R0, 0, asm.DWord),
				asm.Return(),
			},
		}, ebpf.ProgramOptions{LogDisabled: true})
		if err != nil {
			f := classify(err)
			f.Detail = fmt.Sprintf("tp_btf/%s: %s", tp, f.Detail)
			return f
		}
		prog.Close()
	}
	return Feature{State: Present}
}

// classify maps a probe's error to a Feature: nil is present; "not
// supported", EINVAL and E2BIG (an unknown type or attribute) are missing,
// as are EPERM and EACCES for a process that may load BPF (lockdown, an
// LSM or a sysctl refuses, and the sensor's own load would be refused the
// same way); anything else is unknown.
func classify(err error) Feature {
	switch {
	case err == nil:
		return Feature{State: Present}
	case errors.Is(err, ebpf.ErrNotSupported), errors.Is(err, unix.EINVAL), errors.Is(err, unix.E2BIG):
		return Feature{State: Missing, Detail: err.Error()}
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return Feature{State: Missing, Detail: "refused (kernel lockdown, an LSM or missing capabilities): " + err.Error()}
	}
	return Feature{Detail: err.Error()}
}

// Capability bits of /proc/PID/status CapEff.
const (
	capSysAdmin = 21
	capBPF      = 39
)

// mayLoadBPF reports whether this process has CAP_BPF or CAP_SYS_ADMIN.
func mayLoadBPF() (bool, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false, err
	}
	eff, err := ParseCapEff(string(b))
	if err != nil {
		return false, err
	}
	return eff&(1<<capBPF|1<<capSysAdmin) != 0, nil
}

// ParseCapEff returns the effective capability set from the text of
// /proc/PID/status.
func ParseCapEff(status string) (uint64, error) {
	for line := range strings.Lines(status) {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				return 0, fmt.Errorf("parse CapEff: %w", err)
			}
			return n, nil
		}
	}
	return 0, errors.New("no CapEff line in /proc/self/status")
}
