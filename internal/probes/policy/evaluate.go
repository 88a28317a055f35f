package policy

import (
	"fmt"
	"strings"
)

// State is what a feature probe found.
type State int

// The states of a feature. The zero value is Unknown: not probed, or the
// probe could not decide.
const (
	Unknown State = iota
	Present
	Missing
)

func (s State) String() string {
	switch s {
	case Present:
		return "present"
	case Missing:
		return "missing"
	}
	return "unknown"
}

// Feature is the outcome of one feature probe.
type Feature struct {
	State State
	// Detail says why the feature is missing, or why the probe could not
	// decide; empty when there is nothing to add.
	Detail string
}

// Facts are the inputs of Evaluate: what the host is and what its kernel
// can do. Gather reads them from the running system; tests write them.
type Facts struct {
	// OSRelease is the text of /etc/os-release (or /usr/lib/os-release);
	// empty when there is none.
	OSRelease string
	// KernelRelease is uname -r; Machine is uname -m. Empty when unknown.
	KernelRelease, Machine string
	// Lockdown is the active kernel lockdown mode (none, integrity or
	// confidentiality); empty when it cannot be read.
	Lockdown string

	// BTF is the kernel's BTF at /sys/kernel/btf/vmlinux.
	BTF Feature
	// RingBuffer is the BPF ring buffer map (Linux 5.8).
	RingBuffer Feature
	// BTFTracepoints is loading BTF tracepoint programs (tp_btf: program
	// type tracing, attach type raw tracepoint) on the tracepoints the
	// provider uses.
	BTFTracepoints Feature
	// Loop is the bpf_loop helper (Linux 5.17).
	Loop Feature
}

// Verdict is the policy's answer for one host.
type Verdict struct {
	// EBPF is whether provider auto may load the eBPF provider. When it is
	// false, auto uses netlink without loading anything.
	EBPF bool
	// Reason says why, for the log and for health: the rule that denied
	// eBPF, or what was found.
	Reason string
	// DenyListed is set when the kernel is on the deny list: then not even
	// provider ebpf loads the programs.
	DenyListed bool
	// Distribution is the host's, from OSRelease.
	Distribution Distribution
}

// features are the probed features in the order Evaluate checks them,
// with what their absence means.
func (f Facts) features() []struct {
	Feature
	name, missing string
} {
	type named = struct {
		Feature
		name, missing string
	}
	return []named{
		{f.BTF, "BTF", "no BTF at /sys/kernel/btf/vmlinux (the kernel is built without CONFIG_DEBUG_INFO_BTF)"},
		{f.RingBuffer, "BPF ring buffer", "no BPF ring buffer (Linux 5.8+)"},
		{f.BTFTracepoints, "BTF tracepoint programs", "BTF tracepoint programs (tp_btf) cannot be loaded"},
		{f.Loop, "bpf_loop", "no bpf_loop helper (Linux 5.17+)"},
	}
}

// Evaluate applies the policy to f, in this order: the deny list; the
// distribution's minimum release and kernel (Minimums); the architecture
// the programs are built for; kernel lockdown in confidentiality mode; and
// the features (BTF, ring buffer, BTF tracepoints, bpf_loop). The first rule
// that fails decides. A feature in state Unknown never denies.
func Evaluate(f Facts) Verdict {
	d := ParseOSRelease(f.OSRelease)
	v := Verdict{Distribution: d}
	kernel := "kernel " + f.KernelRelease
	if f.KernelRelease == "" {
		kernel = "this kernel"
	}

	if e, ok := denied(d, f.KernelRelease); ok {
		v.DenyListed = true
		on := d.String()
		if d.ID != e.ID {
			on += " (derived from " + e.Name + ")"
		}
		v.Reason = fmt.Sprintf("%s on %s is on the deny list (%s)", kernel, on, e.Why)
		if f.KernelRelease == "" {
			v.Reason = fmt.Sprintf("%s is on the deny list (%s)", on, e.Why)
		}
		return v
	}
	if reason := belowMinimum(d, f.KernelRelease); reason != "" {
		v.Reason = reason
		return v
	}
	if f.Machine != "" && f.Machine != "x86_64" {
		v.Reason = fmt.Sprintf("the eBPF programs are built for x86_64, this machine is %s", f.Machine)
		return v
	}
	if f.Lockdown == "confidentiality" {
		v.Reason = "kernel lockdown is in confidentiality mode: BPF programs may not read kernel memory, which the sensor's programs do"
		return v
	}
	var unknown []string
	for _, ft := range f.features() {
		switch ft.State {
		case Missing:
			v.Reason = ft.missing
			if ft.Detail != "" {
				v.Reason += ": " + ft.Detail
			}
			return v
		case Unknown:
			u := ft.name
			if ft.Detail != "" {
				u += " (" + ft.Detail + ")"
			}
			unknown = append(unknown, u)
		}
	}

	v.EBPF = true
	v.Reason = fmt.Sprintf("%s on %s meets the support policy", kernel, d)
	if len(unknown) > 0 {
		v.Reason += "; not verified: " + strings.Join(unknown, ", ")
	}
	return v
}

// denied returns the deny-list entry that matches.
func denied(d Distribution, kernel string) (Denied, bool) {
	for _, e := range DenyList() {
		if !d.is(e.ID) || (e.Version != "" && !versionPrefix(e.Version, d.VersionID)) {
			continue
		}
		if e.Kernel != "" && !sameKernel(kernel, e.Kernel) {
			continue
		}
		return e, true
	}
	return Denied{}, false
}

// versionPrefix reports whether the segments of prefix ("8.1") are the
// first segments of version ("8.1.1911").
func versionPrefix(prefix, version string) bool {
	p, v := strings.Split(prefix, "."), strings.Split(version, ".")
	if version == "" || len(p) > len(v) {
		return false
	}
	for i := range p {
		if vercmp(p[i], v[i]) != 0 {
			return false
		}
	}
	return true
}

// sameKernel reports whether release is listed, ignoring a suffix after
// '.' or '+' (the architecture, "+debug").
func sameKernel(release, listed string) bool {
	rest, ok := strings.CutPrefix(release, listed)
	return ok && (rest == "" || rest[0] == '.' || rest[0] == '+')
}

// flavor is the kernel flavour of release as Minimum.Flavor names it.
func flavor(id, release string) string {
	if id != "ol" {
		return ""
	}
	if strings.Contains(strings.ToLower(release), "uek") {
		return "UEK"
	}
	return "RHCK"
}

// minimumFor returns the row of Minimums that applies to d running kernel
// release: the row of d's major release; for a newer major release than
// any row, the newest row; for a release without VERSION_ID, the newest
// row. older is set when d is older than every row.
func minimumFor(d Distribution, release string) (row Minimum, found, older bool) {
	fl := flavor(d.ID, release)
	var rows []Minimum
	for _, m := range Minimums() {
		if m.ID == d.ID && m.Flavor == fl {
			rows = append(rows, m)
		}
	}
	if len(rows) == 0 {
		return Minimum{}, false, false
	}
	major := func(v string) string { m, _, _ := strings.Cut(v, "."); return m }
	newest := rows[0]
	for _, r := range rows[1:] {
		if vercmp(r.Version, newest.Version) > 0 {
			newest = r
		}
	}
	if d.VersionID == "" {
		return newest, true, false
	}
	var best *Minimum
	for i, r := range rows {
		switch c := vercmp(major(r.Version), major(d.VersionID)); {
		case c == 0:
			return r, true, false
		case c < 0 && (best == nil || vercmp(r.Version, best.Version) > 0):
			best = &rows[i]
		}
	}
	if best == nil {
		oldest := rows[0]
		for _, r := range rows[1:] {
			if vercmp(r.Version, oldest.Version) < 0 {
				oldest = r
			}
		}
		return oldest, true, true
	}
	return *best, true, false
}

// belowMinimum returns why d or its kernel is below the support table, or
// "" when it is not (or no row applies).
func belowMinimum(d Distribution, release string) string {
	row, found, older := minimumFor(d, release)
	if !found {
		return ""
	}
	if older || releaseBelow(d.VersionID, row.Version) {
		return fmt.Sprintf("%s %s is below the minimum release %s %s", row.Name, d.VersionID, row.Name, row.Version)
	}
	if release != "" && CompareVersions(release, row.Kernel) < 0 {
		version := d.VersionID
		if version == "" {
			version = row.Version
		}
		flavor := ""
		if row.Flavor != "" {
			flavor = " (" + row.Flavor + ")"
		}
		return fmt.Sprintf("kernel %s is below the minimum %s for %s %s%s", release, row.Kernel, row.Name, version, flavor)
	}
	return ""
}

// releaseBelow reports whether the distribution release version is older
// than min, compared to the precision version gives: CentOS 7 says only
// "7", which is not below "7.6" (its kernel then decides).
func releaseBelow(version, min string) bool {
	if version == "" {
		return false
	}
	v, m := strings.Split(version, "."), strings.Split(min, ".")
	if len(m) > len(v) {
		m = m[:len(v)]
	}
	return vercmp(strings.Join(v, "."), strings.Join(m, ".")) < 0
}
