package health

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/otel-sensor/otel-sensor/internal/probes/policy"
)

// thisMachine are the Facts and Verdict of a capable Debian 12 host.
func thisMachine() (policy.Facts, policy.Verdict) {
	present := policy.Feature{State: policy.Present}
	f := policy.Facts{
		OSRelease:     "NAME=\"Debian GNU/Linux\"\nID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
		KernelRelease: "6.18.44-fc-v595", Machine: "x86_64", Lockdown: "integrity",
		BTF: present, RingBuffer: present, BTFTracepoints: present, Loop: present,
	}
	return f, policy.Evaluate(f)
}

func running(change func(*Live)) *Live {
	success := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	l := &Live{PID: 4242, Version: "v1", StartTime: success.Add(-time.Hour), Provider: "ebpf",
		ProviderReason: "auto: eBPF programs loaded and attached", EventsTotal: 1000, EventsDroppedTotal: 3,
		Exporter: Exporter{Type: "otlp", Endpoint: "grpc collector:4317", LastSuccess: &success, QueueSize: 10, QueueCapacity: 8192}}
	if change != nil {
		change(l)
	}
	return l
}

func TestBuild(t *testing.T) {
	facts, allowed := thisMachine()
	denied := policy.Verdict{Reason: "kernel 4.14 is below the minimum 4.15.0 for Ubuntu 16.04", Distribution: allowed.Distribution}
	denyListed := policy.Verdict{Reason: "kernel 5.15.0-0.30.20.el8uek.x86_64 on Oracle Linux Server 8.8 is on the deny list (hangs or panics with eBPF sensors)",
		DenyListed: true, Distribution: allowed.Distribution}
	quiet := Audit{Checked: true, Available: true, Rules: 1, NeverTaskRule: true}
	notRunning := fmt.Errorf("%w (nothing answers on /run/otel-sensor/health.sock)", ErrNotRunning)
	const sock = "/run/otel-sensor/health.sock"
	for _, tc := range []struct {
		name     string
		in       Inputs
		provider string
		issues   []string // each contained in an issue; none: healthy
	}{
		{"daemon on eBPF, all well", Inputs{Socket: sock, Live: running(nil), Provider: "auto", Verdict: allowed, Audit: quiet}, "ebpf", nil},
		{"daemon fell back to netlink", Inputs{Socket: sock, Live: running(func(l *Live) {
			l.Provider, l.ProviderReason = "netlink", "auto: no BTF at /sys/kernel/btf/vmlinux; using the netlink proc connector (eBPF not loaded)"
		}), Provider: "auto", Verdict: allowed, Audit: quiet}, "netlink", []string{"eBPF is not in use, so file and network events are not reported: no BTF at /sys/kernel/btf/vmlinux"}},
		{"daemon on netlink as configured", Inputs{Socket: sock, Live: running(func(l *Live) {
			l.Provider, l.ProviderReason = "netlink", "configured: netlink"
		}), Provider: "netlink", Verdict: allowed, Audit: quiet}, "netlink", nil},
		{"last export failed", Inputs{Socket: sock, Live: running(func(l *Live) { l.Exporter.LastError = "rpc error: code = Unavailable" }), Verdict: allowed, Audit: quiet},
			"ebpf", []string{"the last export failed: rpc error: code = Unavailable. Check that grpc collector:4317 is reachable"}},
		{"last reload failed", Inputs{Socket: sock, Live: running(func(l *Live) {
			l.Reloads, l.LastReloadError = 1, `config key "log.level" (file /etc/otel-sensor/config.yaml): bad`
		}), Verdict: allowed, Audit: quiet},
			"ebpf", []string{`the last configuration reload (SIGHUP) was not applied, so the daemon keeps the exclusions and log level it had: config key "log.level"`}},
		{"export queue nearly full", Inputs{Socket: sock, Live: running(func(l *Live) { l.Exporter.QueueSize = 7900 }), Verdict: allowed, Audit: quiet},
			"ebpf", []string{"the export queue is 96% full (7900 of 8192 events)", "export.queue_size"}},
		{"no daemon", Inputs{Socket: sock, DaemonErr: notRunning, Provider: "auto", Verdict: allowed, Audit: quiet},
			"none", []string{"the otel-sensor daemon is not running (nothing answers on " + sock + "). Fix: start it"}},
		{"no socket configured", Inputs{Provider: "auto", Verdict: allowed, Audit: quiet}, "none", []string{"health.socket is empty"}},
		{"not root", Inputs{Socket: sock, DaemonErr: fmt.Errorf("connect to health socket: %w", fs.ErrPermission), Provider: "auto", Verdict: allowed, Audit: quiet},
			"none", []string{"permission denied. Fix: run otel-sensor health as root"}},
		{"daemon answers nonsense", Inputs{Socket: sock, DaemonErr: errors.New("decode health answer: boom"), Provider: "auto", Verdict: allowed, Audit: quiet},
			"none", []string{"cannot read the daemon's state from " + sock + ": decode health answer: boom"}},
		{"no daemon, auto would use netlink", Inputs{Socket: sock, DaemonErr: notRunning, Provider: "auto", Verdict: denied, Audit: quiet},
			"none", []string{"not running", "provider auto will use netlink, so file and network events will not be reported: " + denied.Reason}},
		{"no daemon, configured ebpf on a deny-listed kernel", Inputs{Socket: sock, DaemonErr: notRunning, Provider: "ebpf", Verdict: denyListed, Audit: quiet},
			"none", []string{"not running", "provider ebpf is configured, but run will refuse to start: " + denyListed.Reason}},
		{"no daemon, configured ebpf below the minimum", Inputs{Socket: sock, DaemonErr: notRunning, Provider: "ebpf", Verdict: denied, Audit: quiet},
			"none", []string{"not running", "advises against it: " + denied.Reason}},
		{"no daemon, configured netlink", Inputs{Socket: sock, DaemonErr: notRunning, Provider: "netlink", Verdict: denyListed, Audit: quiet},
			"none", []string{"not running"}},
		{"audit locked", Inputs{Socket: sock, Live: running(nil), Verdict: allowed, Audit: Audit{Checked: true, Available: true, Enabled: 2, SyscallRules: 3}},
			"ebpf", []string{"locked until reboot (auditctl -e 2, immutable) with 3 syscall rule(s)", "remove \"-e 2\""}},
		{"audit rules with auditd", Inputs{Socket: sock, Live: running(nil), Verdict: allowed,
			Audit: Audit{Checked: true, Available: true, Enabled: 1, DaemonPID: 9, Rules: 2, SyscallRules: 2, SyscallRuleKeys: []string{"exec", "identity"}}},
			"ebpf", []string{"2 audit syscall rules (keys: exec, identity) are loaded with auditing enabled", "auditctl -D"}},
		{"audit rule left with auditing off", Inputs{Socket: sock, Live: running(nil), Verdict: allowed, Audit: Audit{Checked: true, Available: true, Rules: 1, SyscallRules: 1}},
			"ebpf", []string{"1 audit syscall rule is still loaded though auditing is off", "auditctl -D"}},
		{"audit not checked is not an issue", Inputs{Socket: sock, Live: running(nil), Verdict: allowed, Audit: Audit{Error: "permission denied"}}, "ebpf", nil},
		{"no audit in the kernel", Inputs{Socket: sock, Live: running(nil), Verdict: allowed, Audit: Audit{Checked: true}}, "ebpf", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Facts = facts
			r := Build(tc.in)
			if r.Provider != tc.provider || r.DaemonRunning != (tc.in.Live != nil) {
				t.Errorf("provider %q running %v, want %q %v", r.Provider, r.DaemonRunning, tc.provider, tc.in.Live != nil)
			}
			if r.Healthy != (len(tc.issues) == 0) || (len(r.Issues) == 0) != (len(tc.issues) == 0) {
				t.Fatalf("healthy %v with issues %q, want issues mentioning %q", r.Healthy, r.Issues, tc.issues)
			}
			all := strings.Join(r.Issues, "\n")
			for _, want := range tc.issues {
				if !strings.Contains(all, want) {
					t.Errorf("no issue contains %q: %q", want, r.Issues)
				}
			}
			// One issue per problem: those of the daemon or its absence,
			// the provider, the exporter and the audit rules each.
			if n := strings.Count(all, "Fix:") + strings.Count(all, "Check "); n != len(r.Issues) {
				t.Errorf("%d issue(s) but %d fixes: %q", len(r.Issues), n, r.Issues)
			}
			if r.KernelRelease != "6.18.44-fc-v595" || r.Distribution != "Debian GNU/Linux 12 (bookworm)" || !r.BTF || r.Lockdown != "integrity" {
				t.Errorf("kernel facts: %q %q btf %v lockdown %q", r.KernelRelease, r.Distribution, r.BTF, r.Lockdown)
			}
			if l := tc.in.Live; l != nil && (r.EventsTotal != l.EventsTotal || r.Exporter != l.Exporter || r.ProviderReason != l.ProviderReason || r.Daemon.PID != l.PID) {
				t.Errorf("the daemon's state is not reported as it answered: %+v", r)
			}
			var b strings.Builder
			if err := r.WriteText(&b); err != nil {
				t.Fatal(err)
			}
			for _, want := range append([]string{"health:", "daemon:", "provider:", "kernel:", "BTF:", "lockdown:", "kernel policy:", "exporter:", "audit:"}, tc.issues...) {
				if !strings.Contains(b.String(), want) {
					t.Errorf("text output does not contain %q:\n%s", want, b.String())
				}
			}
		})
	}
}

// The JSON fields DESIGN.md fixes, with their types, with and without a
// daemon.
func TestReportJSONContract(t *testing.T) {
	facts, verdict := thisMachine()
	for name, in := range map[string]Inputs{
		"daemon":    {Socket: "/s", Live: running(nil), Provider: "auto", Facts: facts, Verdict: verdict},
		"no daemon": {Socket: "/s", DaemonErr: ErrNotRunning, Provider: "auto", Facts: facts, Verdict: verdict},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := json.Marshal(Build(in))
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			CheckReportJSON(t, m)
			exp := m["exporter"].(map[string]any)
			if in.Live != nil {
				if _, ok := exp["last_success"].(string); !ok {
					t.Errorf("exporter.last_success = %#v, want an RFC 3339 time", exp["last_success"])
				}
			} else if exp["last_success"] != nil || m["daemon"] != nil || m["provider"] != "none" {
				t.Errorf("without a daemon: last_success %#v daemon %#v provider %#v", exp["last_success"], m["daemon"], m["provider"])
			}
		})
	}
}

// CheckReportJSON checks that m, a decoded health report, has every field
// of the contract with its type.
func CheckReportJSON(t testing.TB, m map[string]any) {
	t.Helper()
	want := map[string]string{
		"healthy": "bool", "health_issues": "array", "daemon_running": "bool", "socket": "string",
		"provider": "string", "provider_reason": "string", "kernel_release": "string", "distribution": "string",
		"btf": "bool", "lockdown": "string", "kernel_policy": "object",
		"events_total": "number", "events_dropped_total": "number", "exporter": "object", "audit": "object",
	}
	exporter := map[string]string{"type": "string", "endpoint": "string", "last_error": "string", "queue_size": "number", "queue_capacity": "number"}
	typ := func(v any) string {
		switch v.(type) {
		case bool:
			return "bool"
		case string:
			return "string"
		case float64:
			return "number"
		case []any:
			return "array"
		case map[string]any:
			return "object"
		case nil:
			return "null"
		}
		return fmt.Sprintf("%T", v)
	}
	for k, ty := range want {
		if v, ok := m[k]; !ok || typ(v) != ty {
			t.Errorf("%s = %#v, want a %s", k, v, ty)
		}
	}
	if p := m["provider"]; p != "ebpf" && p != "netlink" && p != "none" {
		t.Errorf("provider = %#v, want ebpf, netlink or none", p)
	}
	exp, _ := m["exporter"].(map[string]any)
	for k, ty := range exporter {
		if v, ok := exp[k]; !ok || typ(v) != ty {
			t.Errorf("exporter.%s = %#v, want a %s", k, v, ty)
		}
	}
	if v, ok := exp["last_success"]; !ok || (typ(v) != "string" && v != nil) {
		t.Errorf("exporter.last_success = %#v, want a time or null", v)
	}
	for _, s := range m["health_issues"].([]any) {
		if _, ok := s.(string); !ok {
			t.Errorf("health_issues holds %#v, want strings", s)
		}
	}
}
