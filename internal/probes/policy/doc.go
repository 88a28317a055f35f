// Package policy is the kernel support policy of the eBPF provider: which
// kernels it may be loaded on, as data, and the checks that decide it on a
// given host.
//
// It provides:
//
//   - Minimums: the oldest supported release and kernel per distribution;
//   - DenyList: kernels known to hang or panic with eBPF sensors;
//   - CompareVersions: version order as distributions number their kernels
//     (rpm's segment comparison, the release after '-' compared apart);
//   - ParseOSRelease: the distribution, from os-release(5);
//   - Evaluate: the verdict — may the eBPF provider be loaded, and why —
//     from Facts given as parameters, so every rule is table-testable;
//   - Gather: the Facts of the running system (os-release, uname, lockdown,
//     BTF and the feature probes).
//
// Rules: Evaluate is pure. Gather never loads or attaches the sensor's
// programs: its probes create one ring buffer map and load two-instruction
// programs that are closed at once, and only when asked (Options.Probe) and
// when the process may load BPF programs at all. A probe that cannot decide
// leaves its feature Unknown, and an unknown feature never denies eBPF: the
// real load decides (probes.Select falls back on its failure).
//
// docs/kernel.md is the user-facing description of the policy.
package policy
