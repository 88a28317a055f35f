package health

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/otel-sensor/otel-sensor/internal/probes/policy"
)

// Report is the health report: `otel-sensor health --output json` prints it
// as is (the field names are a contract, DESIGN.md).
type Report struct {
	// Healthy is true when Issues is empty.
	Healthy bool `json:"healthy"`
	// Issues say what is wrong and what to do about it.
	Issues []string `json:"health_issues"`

	// DaemonRunning is whether a daemon answered on Socket; Daemon is its
	// identity, nil when none did.
	DaemonRunning bool    `json:"daemon_running"`
	Daemon        *Daemon `json:"daemon"`
	Socket        string  `json:"socket"`

	// Provider is the daemon's active provider: ebpf, netlink, or none
	// without a daemon. ProviderReason says why; without a daemon, which
	// provider the configuration and the kernel policy would give.
	Provider       string `json:"provider"`
	ProviderReason string `json:"provider_reason"`

	KernelRelease string `json:"kernel_release"`
	Distribution  string `json:"distribution"`
	BTF           bool   `json:"btf"`
	// Lockdown is none, integrity, confidentiality or unknown.
	Lockdown     string       `json:"lockdown"`
	KernelPolicy KernelPolicy `json:"kernel_policy"`

	// EventsTotal and EventsDroppedTotal are the daemon's sensor.events
	// and sensor.events.dropped sums; 0 without a daemon.
	EventsTotal        uint64   `json:"events_total"`
	EventsDroppedTotal uint64   `json:"events_dropped_total"`
	Exporter           Exporter `json:"exporter"`

	Audit Audit `json:"audit"`
}

// Daemon identifies the running daemon.
type Daemon struct {
	PID       int       `json:"pid"`
	Version   string    `json:"version"`
	StartTime time.Time `json:"start_time"`
}

// KernelPolicy is the kernel support policy's verdict on this host.
type KernelPolicy struct {
	EBPFAllowed bool   `json:"ebpf_allowed"`
	DenyListed  bool   `json:"deny_listed"`
	Reason      string `json:"reason"`
	// AutoProvider is the provider auto starts with by the policy: ebpf
	// (if the programs then fail to load, netlink) or netlink.
	AutoProvider string `json:"auto_provider"`
}

// Inputs is what Build makes a report of.
type Inputs struct {
	// Socket is the health socket's path ("" when none is configured).
	Socket string
	// Live is the daemon's answer; nil when none came, and DaemonErr says
	// why (wrapping ErrNotRunning when there is no daemon).
	Live      *Live
	DaemonErr error
	// Provider is the configured provider mode (auto, ebpf or netlink).
	Provider string
	// Exporter is the configured exporter's type and endpoint, reported
	// when no daemon answers.
	Exporter Exporter
	// Facts and Verdict are the kernel policy's, gathered locally.
	Facts   policy.Facts
	Verdict policy.Verdict
	Audit   Audit
}

// queueFullShare is the share of the export queue in use from which the
// exporter is reported as not keeping up.
const queueFullShare = 0.9

// Build makes the report, with an issue for each of: no daemon (or one
// that cannot be read), eBPF not in use though the configuration lets auto
// choose, a configured eBPF the kernel policy denies, a failed last export,
// an export queue at least 90 % full, and audit rules that cost every
// syscall or a locked audit configuration. Drops alone are not an issue:
// the totals count since the daemon started; watch the rate of
// sensor.events.dropped instead.
func Build(in Inputs) Report {
	f, v := in.Facts, in.Verdict
	r := Report{
		Issues:        []string{},
		Socket:        in.Socket,
		Provider:      "none",
		KernelRelease: f.KernelRelease,
		Distribution:  v.Distribution.PrettyName,
		BTF:           f.BTF.State == policy.Present,
		Lockdown:      f.Lockdown,
		KernelPolicy: KernelPolicy{
			EBPFAllowed:  v.EBPF,
			DenyListed:   v.DenyListed,
			Reason:       v.Reason,
			AutoProvider: "netlink",
		},
		Exporter: in.Exporter,
		Audit:    in.Audit,
	}
	if r.Distribution == "" {
		r.Distribution = v.Distribution.String()
	}
	if r.Lockdown == "" {
		r.Lockdown = "unknown"
	}
	if v.EBPF {
		r.KernelPolicy.AutoProvider = "ebpf"
	}
	issue := func(format string, args ...any) { r.Issues = append(r.Issues, fmt.Sprintf(format, args...)) }

	if l := in.Live; l != nil {
		r.DaemonRunning = true
		r.Daemon = &Daemon{PID: l.PID, Version: l.Version, StartTime: l.StartTime}
		r.Provider, r.ProviderReason = l.Provider, l.ProviderReason
		r.EventsTotal, r.EventsDroppedTotal = l.EventsTotal, l.EventsDroppedTotal
		r.Exporter = l.Exporter
		if why, ok := strings.CutPrefix(l.ProviderReason, "auto: "); ok && l.Provider != "ebpf" {
			issue("eBPF is not in use, so file and network events are not reported: %s. Fix: run a kernel the support policy allows (docs/kernel.md), or set provider: netlink to choose this knowingly", why)
		}
		if l.LastReloadError != "" {
			issue("the last configuration reload (SIGHUP) was not applied, so the daemon keeps the exclusions and log level it had: %s. Fix: correct the configuration (otel-sensor config show names the bad key) and send SIGHUP again", l.LastReloadError)
		}
		e := l.Exporter
		if retrying, ok := strings.CutPrefix(e.LastError, "retrying: "); ok {
			issue("exports are failing and being retried, none has succeeded since: %s. Check that %s is reachable and accepts the data; events wait in the queue meanwhile, and those that cannot be delivered are dropped and counted (sensor.events.dropped)", retrying, e.Endpoint)
		} else if e.LastError != "" {
			issue("the last export failed: %s. Check that %s is reachable and accepts the data; events that cannot be delivered are dropped and counted (sensor.events.dropped, stage export)", e.LastError, e.Endpoint)
		}
		if e.QueueCapacity > 0 && float64(e.QueueSize) >= queueFullShare*float64(e.QueueCapacity) {
			issue("the export queue is %d%% full (%d of %d events): the exporter is not keeping up and new events are dropped when it is full. Check the exporter (%s), or raise export.queue_size",
				100*e.QueueSize/e.QueueCapacity, e.QueueSize, e.QueueCapacity, e.Endpoint)
		}
	} else {
		r.ProviderReason = "the daemon is not running; " + wouldUse(in.Provider, v)
		switch err := in.DaemonErr; {
		case in.Socket == "":
			issue("health.socket is empty, so the daemon serves no health socket and its state cannot be read. Fix: set health.socket (default /run/otel-sensor/health.sock)")
		case err == nil, errors.Is(err, ErrNotRunning):
			issue("the otel-sensor daemon is not running (nothing answers on %s). Fix: start it (systemctl start otel-sensor, or otel-sensor run)", in.Socket)
		case errors.Is(err, fs.ErrPermission):
			issue("cannot read the daemon's state from %s: permission denied. Fix: run otel-sensor health as root", in.Socket)
		default:
			issue("cannot read the daemon's state from %s: %v. Fix: check the daemon's log (journalctl -u otel-sensor); restarting it recreates the socket", in.Socket, err)
		}
		switch {
		case in.Provider == "ebpf" && v.DenyListed:
			issue("provider ebpf is configured, but run will refuse to start: %s. Fix: set provider: auto (netlink on this kernel) or netlink", v.Reason)
		case in.Provider == "ebpf" && !v.EBPF:
			issue("provider ebpf is configured, but the kernel support policy advises against it: %s; if the programs fail to load, run exits 1. Fix: set provider: auto", v.Reason)
		case in.Provider == "auto" && !v.EBPF:
			issue("with this kernel, provider auto will use netlink, so file and network events will not be reported: %s. Fix: run a kernel the support policy allows (docs/kernel.md), or set provider: netlink to choose this knowingly", v.Reason)
		}
	}

	for _, s := range auditIssues(in.Audit) {
		issue("%s", s)
	}
	r.Healthy = len(r.Issues) == 0
	return r
}

// wouldUse says which provider run would start, without a daemon.
func wouldUse(mode string, v policy.Verdict) string {
	switch {
	case mode == "netlink":
		return "provider netlink is configured"
	case mode == "ebpf" && v.DenyListed:
		return "provider ebpf is configured, and run would refuse to start: " + v.Reason
	case mode == "ebpf" && !v.EBPF:
		return "provider ebpf is configured, although the kernel support policy advises against it: " + v.Reason
	case mode == "ebpf":
		return "provider ebpf is configured: " + v.Reason
	case v.EBPF:
		return "provider auto would load eBPF: " + v.Reason
	}
	return "provider auto would use netlink without loading eBPF: " + v.Reason
}

// auditIssues are what the audit state costs, with the fix.
func auditIssues(a Audit) []string {
	if !a.Checked {
		return nil
	}
	keys := ""
	if len(a.SyscallRuleKeys) > 0 {
		keys = " (keys: " + strings.Join(a.SyscallRuleKeys, ", ") + ")"
	}
	rules := func(n int) string {
		if n == 1 {
			return "1 audit syscall rule" + keys + " is"
		}
		return fmt.Sprintf("%d audit syscall rules%s are", n, keys)
	}
	switch {
	case a.Enabled == 2:
		s := "the audit configuration is locked until reboot (auditctl -e 2, immutable)"
		if a.SyscallRules > 0 {
			s += fmt.Sprintf(" with %d syscall rule(s)%s that every syscall of every audited process pays for and that cannot be removed", a.SyscallRules, keys)
		}
		return []string{s + "; otel-sensor needs no audit rules. Fix: remove \"-e 2\" (and the rules nothing else needs) from /etc/audit/rules.d/, run augenrules --load, and reboot"}
	case a.SyscallRules > 0 && a.Enabled == 1:
		return []string{rules(a.SyscallRules) + " loaded with auditing enabled: every syscall of every audited process is checked against them, though otel-sensor needs none. Fix: unload them (auditctl -D) and remove them from /etc/audit/rules.d/, or stop and disable auditd, unless something else needs them"}
	case a.SyscallRules > 0:
		return []string{rules(a.SyscallRules) + " still loaded though auditing is off: every syscall pays for them again as soon as auditing is enabled (auditd starting), though otel-sensor needs none. Fix: unload them (auditctl -D) and remove them from /etc/audit/rules.d/"}
	}
	return nil
}

// WriteText writes the report as readable lines.
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "%-15s %s\n", label+":", fmt.Sprintf(format, args...))
	}
	status := "healthy"
	if !r.Healthy {
		status = fmt.Sprintf("NOT HEALTHY (%d issue(s))", len(r.Issues))
	}
	line("health", "%s", status)
	if d := r.Daemon; d != nil {
		line("daemon", "running: pid %d, version %s, since %s (socket %s)", d.PID, d.Version, d.StartTime.Local().Format(time.RFC3339), r.Socket)
	} else {
		line("daemon", "not running (socket %s)", orNone(r.Socket))
	}
	line("provider", "%s: %s", r.Provider, r.ProviderReason)
	line("kernel", "%s on %s", orNone(r.KernelRelease), r.Distribution)
	line("BTF", "%s", yesNo(r.BTF))
	line("lockdown", "%s", r.Lockdown)
	allowed := "eBPF allowed"
	if !r.KernelPolicy.EBPFAllowed {
		allowed = "eBPF denied"
	}
	line("kernel policy", "%s (auto starts %s): %s", allowed, r.KernelPolicy.AutoProvider, r.KernelPolicy.Reason)
	if r.DaemonRunning {
		line("events", "%d total, %d dropped", r.EventsTotal, r.EventsDroppedTotal)
	}
	e := r.Exporter
	exp := fmt.Sprintf("%s %s", e.Type, e.Endpoint)
	if r.DaemonRunning {
		last := "never"
		if e.LastSuccess != nil {
			last = e.LastSuccess.Local().Format(time.RFC3339)
		}
		exp += fmt.Sprintf("; queue %d/%d; last success %s; last error %s", e.QueueSize, e.QueueCapacity, last, orNone(e.LastError))
	}
	line("exporter", "%s", exp)
	a := r.Audit
	switch {
	case !a.Checked:
		line("audit", "not checked: %s", a.Error)
	case !a.Available:
		line("audit", "not in this kernel")
	default:
		line("audit", "enabled %d, daemon pid %d, %d rule(s), %d syscall rule(s), never,task rule %s",
			a.Enabled, a.DaemonPID, a.Rules, a.SyscallRules, yesNo(a.NeverTaskRule))
	}
	for _, s := range r.Issues {
		fmt.Fprintf(&b, "issue: %s\n", s)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
