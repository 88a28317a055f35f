// Package privilege checks, before the sensor loads anything, that the
// process holds the Linux capabilities its configured provider needs.
//
// Rules:
//   - What counts is the effective set of the calling process (capget(2)):
//     root with every capability passes, and so does an unprivileged user
//     given exactly the needed capabilities as ambient capabilities
//     (systemd AmbientCapabilities=, setpriv --ambient-caps).
//   - Capabilities count only in the initial user namespace: BPF and the
//     proc connector check them there. A process in another user namespace
//     fails the check whatever its set says.
//   - Every missing capability is named in one error, with what it is
//     needed for (a *MissingError; the CLI exits 1 with it).
//   - provider auto needs the eBPF provider's capabilities, or else the
//     netlink provider's: when only the latter are held, the check passes
//     and says that auto will fall back (the eBPF load is then refused
//     with EPERM, which auto treats as "this kernel will not run eBPF").
//
// docs/privileges.md lists the capabilities with the reasons and the
// experiments behind them.
package privilege

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Providers and modes, as in the configuration's provider key.
const (
	ModeAuto    = "auto"
	ModeEBPF    = "ebpf"
	ModeNetlink = "netlink"
)

// Capability is a Linux capability, by number (CAP_BPF is 39).
type Capability uint

// The capabilities the providers need.
const (
	CapNetAdmin  = Capability(unix.CAP_NET_ADMIN)
	CapSysPtrace = Capability(unix.CAP_SYS_PTRACE)
	CapPerfmon   = Capability(unix.CAP_PERFMON)
	CapBPF       = Capability(unix.CAP_BPF)
)

// String returns the capability's name, e.g. "CAP_BPF".
func (c Capability) String() string {
	switch c {
	case CapNetAdmin:
		return "CAP_NET_ADMIN"
	case CapSysPtrace:
		return "CAP_SYS_PTRACE"
	case CapPerfmon:
		return "CAP_PERFMON"
	case CapBPF:
		return "CAP_BPF"
	}
	return fmt.Sprintf("CAP_%d", uint(c))
}

// Need is a capability a provider needs and what for.
type Need struct {
	Capability Capability
	Why        string
}

// readProc is shared by both providers: the process cache, and the
// netlink provider for every event, read the executable and working
// directory links of processes of every user.
const readProc = "read /proc/PID/exe and /proc/PID/cwd of other users' and non-dumpable processes (the executables of processes the sensor did not see start)"

// Needs returns the capabilities provider ("ebpf" or "netlink") needs, in
// a fixed order; nil for anything else.
func Needs(provider string) []Need {
	switch provider {
	case ModeEBPF:
		return []Need{
			{CapBPF, "create the BPF maps (ring buffer, hash and per-CPU maps) and load BTF and the programs"},
			{CapPerfmon, "load and attach tracing programs (tp_btf) that read kernel memory"},
			{CapSysPtrace, readProc},
		}
	case ModeNetlink:
		return []Need{
			{CapNetAdmin, "subscribe to the proc connector (required before Linux 6.6) and raise the socket's receive buffer to 8 MiB past net.core.rmem_max (SO_RCVBUFFORCE), so that bursts are not lost"},
			{CapSysPtrace, readProc},
		}
	}
	return nil
}

// Set is a set of capabilities: bit n is capability n.
type Set uint64

// SetOf returns the set holding caps.
func SetOf(caps ...Capability) Set {
	var s Set
	for _, c := range caps {
		s |= 1 << c
	}
	return s
}

// Has reports whether c is in s.
func (s Set) Has(c Capability) bool { return c < 64 && s&(1<<c) != 0 }

// Effective returns the effective capability set of the calling process.
func Effective() (Set, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData // version 3: two 32-bit halves
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, fmt.Errorf("capget: %w", err)
	}
	return Set(data[0].Effective) | Set(data[1].Effective)<<32, nil
}

// Lacking returns the needs of provider that have does not hold.
func Lacking(provider string, have Set) []Need {
	var out []Need
	for _, n := range Needs(provider) {
		if !have.Has(n.Capability) {
			out = append(out, n)
		}
	}
	return out
}

// Process is what the check knows of the process it runs in.
type Process struct {
	Effective Set
	// InitialUserNS: the process runs in the initial user namespace,
	// where its capabilities count for BPF and the proc connector.
	InitialUserNS bool
	UID           int
}

// Self describes the calling process.
func Self() (Process, error) {
	eff, err := Effective()
	if err != nil {
		return Process{}, err
	}
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return Process{}, fmt.Errorf("read user namespace mapping: %w", err)
	}
	return Process{Effective: eff, InitialUserNS: InitialUserNS(b), UID: os.Geteuid()}, nil
}

// InitialUserNS reports whether uidMap, the content of /proc/self/uid_map,
// is the initial user namespace's: every uid mapped to itself. (A
// namespace made with the same full identity mapping is indistinguishable
// from it, and is reported as initial.)
func InitialUserNS(uidMap []byte) bool {
	f := strings.Fields(string(uidMap))
	return len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295"
}

// MissingError says which capabilities are missing for a mode.
type MissingError struct {
	Mode string
	UID  int
	// NotInitialUserNS: the process runs in a user namespace other than
	// the initial one, where no capability counts.
	NotInitialUserNS bool
	// Missing lists every missing capability once, with the providers
	// that need it.
	Missing []MissingCapability
}

// MissingCapability is a capability that is missing, with the providers
// of the mode that need it and why.
type MissingCapability struct {
	Need
	Providers []string
}

func (e *MissingError) Error() string {
	var b strings.Builder
	switch e.Mode {
	case ModeAuto:
		fmt.Fprintf(&b, "provider %q needs the capabilities of the eBPF provider, or of the netlink provider to fall back to, and has neither set", e.Mode)
	default:
		fmt.Fprintf(&b, "provider %q needs capabilities this process (uid %d) does not hold", e.Mode, e.UID)
	}
	if e.NotInitialUserNS {
		b.WriteString("; it runs in a user namespace other than the initial one, where capabilities do not count for BPF or the proc connector: run it in the host's user namespace")
	}
	if len(e.Missing) > 0 {
		b.WriteString(" — missing:")
	}
	for _, m := range e.Missing {
		fmt.Fprintf(&b, "\n  %s (%s): %s", m.Capability, strings.Join(m.Providers, ", "), m.Why)
	}
	b.WriteString("\nGrant them (systemd AmbientCapabilities=, Kubernetes securityContext.capabilities.add) or run as root; see docs/privileges.md")
	return b.String()
}

// Evaluate returns a *MissingError when p cannot run mode, else nil.
// Unknown modes are the configuration's to reject; they pass here.
func Evaluate(mode string, p Process) error {
	var providers []string
	switch mode {
	case ModeEBPF, ModeNetlink:
		providers = []string{mode}
	case ModeAuto:
		if p.InitialUserNS && (len(Lacking(ModeEBPF, p.Effective)) == 0 || len(Lacking(ModeNetlink, p.Effective)) == 0) {
			return nil
		}
		providers = []string{ModeEBPF, ModeNetlink}
	default:
		return nil
	}
	e := &MissingError{Mode: mode, UID: p.UID, NotInitialUserNS: !p.InitialUserNS}
	for _, prov := range providers {
	next:
		for _, n := range Lacking(prov, p.Effective) {
			for i := range e.Missing {
				if e.Missing[i].Capability == n.Capability {
					e.Missing[i].Providers = append(e.Missing[i].Providers, prov)
					continue next
				}
			}
			e.Missing = append(e.Missing, MissingCapability{Need: n, Providers: []string{prov}})
		}
	}
	if len(e.Missing) == 0 && !e.NotInitialUserNS {
		return nil
	}
	return e
}

// Check fails with a *MissingError when the calling process lacks a
// capability mode needs. In auto mode it passes when either provider can
// run, and logs a warning when one of them cannot: that auto will use the
// netlink provider, or that it could not fall back to it.
func Check(mode string, log *slog.Logger) error {
	p, err := Self()
	if err != nil {
		return fmt.Errorf("check capabilities: %w", err)
	}
	return check(mode, p, log)
}

func check(mode string, p Process, log *slog.Logger) error {
	if err := Evaluate(mode, p); err != nil {
		return err
	}
	if mode != ModeAuto {
		return nil
	}
	if lack := Lacking(ModeEBPF, p.Effective); len(lack) > 0 {
		log.Warn("the eBPF provider lacks capabilities; auto falls back to the netlink provider (process events only)",
			"missing", names(lack))
	} else if lack := Lacking(ModeNetlink, p.Effective); len(lack) > 0 {
		log.Warn("the netlink provider lacks capabilities; if this kernel cannot run the eBPF programs, auto cannot fall back to it",
			"missing", names(lack))
	}
	return nil
}

// names lists the capabilities of needs, comma-separated.
func names(needs []Need) string {
	s := make([]string, len(needs))
	for i, n := range needs {
		s[i] = n.Capability.String()
	}
	return strings.Join(s, ",")
}
