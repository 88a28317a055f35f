package privilege

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/otel-sensor/otel-sensor/internal/probes"
)

func TestEvaluate(t *testing.T) {
	all := SetOf(CapBPF, CapPerfmon, CapSysPtrace, CapNetAdmin)
	without := func(c Capability) Set { return all &^ SetOf(c) }
	for _, tc := range []struct {
		name    string
		mode    string
		have    Set
		otherNS bool
		// want lists the capabilities the error names, each with the
		// providers it names; nil: no error.
		want map[string]string
	}{
		{name: "ebpf, all held", mode: ModeEBPF, have: all},
		{name: "ebpf, only its own", mode: ModeEBPF, have: SetOf(CapBPF, CapPerfmon, CapSysPtrace)},
		{name: "ebpf without CAP_BPF", mode: ModeEBPF, have: without(CapBPF), want: map[string]string{"CAP_BPF": "ebpf"}},
		{name: "ebpf without CAP_PERFMON", mode: ModeEBPF, have: without(CapPerfmon), want: map[string]string{"CAP_PERFMON": "ebpf"}},
		{name: "ebpf without CAP_SYS_PTRACE", mode: ModeEBPF, have: without(CapSysPtrace), want: map[string]string{"CAP_SYS_PTRACE": "ebpf"}},
		{name: "ebpf with none", mode: ModeEBPF, want: map[string]string{"CAP_BPF": "ebpf", "CAP_PERFMON": "ebpf", "CAP_SYS_PTRACE": "ebpf"}},
		{name: "netlink, only its own", mode: ModeNetlink, have: SetOf(CapNetAdmin, CapSysPtrace)},
		{name: "netlink without CAP_NET_ADMIN", mode: ModeNetlink, have: without(CapNetAdmin), want: map[string]string{"CAP_NET_ADMIN": "netlink"}},
		{name: "netlink without CAP_SYS_PTRACE", mode: ModeNetlink, have: without(CapSysPtrace), want: map[string]string{"CAP_SYS_PTRACE": "netlink"}},
		{name: "auto, all held", mode: ModeAuto, have: all},
		{name: "auto, eBPF's only", mode: ModeAuto, have: without(CapNetAdmin)},
		{name: "auto, netlink's only", mode: ModeAuto, have: SetOf(CapNetAdmin, CapSysPtrace)},
		{name: "auto without CAP_SYS_PTRACE", mode: ModeAuto, have: without(CapSysPtrace), want: map[string]string{"CAP_SYS_PTRACE": "ebpf, netlink"}},
		{name: "auto with none", mode: ModeAuto, want: map[string]string{"CAP_BPF": "ebpf", "CAP_PERFMON": "ebpf", "CAP_SYS_PTRACE": "ebpf, netlink", "CAP_NET_ADMIN": "netlink"}},
		{name: "auto, CAP_BPF and CAP_NET_ADMIN", mode: ModeAuto, have: SetOf(CapBPF, CapNetAdmin), want: map[string]string{"CAP_PERFMON": "ebpf", "CAP_SYS_PTRACE": "ebpf, netlink"}},
		{name: "all held in a user namespace", mode: ModeEBPF, have: all, otherNS: true, want: map[string]string{}},
		{name: "auto, all held in a user namespace", mode: ModeAuto, have: all, otherNS: true, want: map[string]string{}},
		{name: "unknown mode is the configuration's to reject", mode: "kprobe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Evaluate(tc.mode, Process{Effective: tc.have, InitialUserNS: !tc.otherNS, UID: 65534})
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var me *MissingError
			if !errors.As(err, &me) {
				t.Fatalf("error %v, want a *MissingError", err)
			}
			got := map[string]string{}
			for _, m := range me.Missing {
				got[m.Capability.String()] = strings.Join(m.Providers, ", ")
				if m.Why == "" {
					t.Errorf("%s has no reason", m.Capability)
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("missing %v, want %v", got, tc.want)
			}
			for c, provs := range tc.want {
				if got[c] != provs {
					t.Errorf("%s: providers %q, want %q", c, got[c], provs)
				}
				if !strings.Contains(err.Error(), "\n  "+c+" ("+provs+"): ") {
					t.Errorf("message does not name %s (%s):\n%s", c, provs, err)
				}
			}
			if me.NotInitialUserNS != tc.otherNS || strings.Contains(err.Error(), "user namespace") != tc.otherNS {
				t.Errorf("user namespace: %v in\n%s", me.NotInitialUserNS, err)
			}
			if !strings.Contains(err.Error(), tc.mode) || !strings.Contains(err.Error(), "docs/privileges.md") {
				t.Errorf("message names neither the mode nor the docs:\n%s", err)
			}
		})
	}
}

func TestInitialUserNS(t *testing.T) {
	for _, tc := range []struct {
		uidMap string
		want   bool
	}{
		{"         0          0 4294967295\n", true},
		{"0 0 4294967295", true},
		{"         0       1000          1\n", false},
		{"         0     100000      65536\n", false},
		{"0 0 4294967295\n1 2 3\n", false},
		{"", false},
	} {
		if got := InitialUserNS([]byte(tc.uidMap)); got != tc.want {
			t.Errorf("InitialUserNS(%q) = %v, want %v", tc.uidMap, got, tc.want)
		}
	}
}

func TestCapabilityNamesAndNeeds(t *testing.T) {
	for _, tc := range []struct {
		c    Capability
		name string
		bit  uint
	}{
		{CapNetAdmin, "CAP_NET_ADMIN", 12},
		{CapSysPtrace, "CAP_SYS_PTRACE", 19},
		{CapPerfmon, "CAP_PERFMON", 38},
		{CapBPF, "CAP_BPF", 39},
		{Capability(21), "CAP_21", 21},
	} {
		if tc.c.String() != tc.name || uint(tc.c) != tc.bit {
			t.Errorf("capability %d is %q, want %d %q", uint(tc.c), tc.c, tc.bit, tc.name)
		}
	}
	if Needs("kprobe") != nil {
		t.Error("needs for an unknown provider")
	}
	if s := SetOf(CapBPF); !s.Has(CapBPF) || s.Has(CapPerfmon) || s.Has(Capability(70)) {
		t.Errorf("SetOf(CAP_BPF) = %#x", s)
	}
}

// The process running the tests holds some set; Effective must agree with
// /proc/self/status.
func TestEffectiveMatchesProcStatus(t *testing.T) {
	eff, err := Effective()
	if err != nil {
		t.Fatal(err)
	}
	p, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	if p.Effective != eff {
		t.Fatalf("Self().Effective %#x, Effective() %#x", p.Effective, eff)
	}
	want, err := capEffFromStatus()
	if err != nil {
		t.Fatal(err)
	}
	if eff != want {
		t.Fatalf("Effective() = %#x, /proc/self/status CapEff = %#x", eff, want)
	}
}

func capEffFromStatus() (Set, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return Set(n), err
		}
	}
	return 0, errors.New("no CapEff line in /proc/self/status")
}

// The modes are the configuration's provider values, as probes names them.
func TestModesMatchProbes(t *testing.T) {
	for _, m := range [][2]string{{ModeAuto, probes.ModeAuto}, {ModeEBPF, probes.ModeEBPF}, {ModeNetlink, probes.ModeNetlink}} {
		if m[0] != m[1] {
			t.Errorf("mode %q, probes says %q", m[0], m[1])
		}
	}
}

func TestCheckWarnsInAuto(t *testing.T) {
	for _, tc := range []struct {
		mode string
		have Set
		want string // in the log; empty: nothing logged
	}{
		{ModeAuto, SetOf(CapBPF, CapPerfmon, CapSysPtrace, CapNetAdmin), ""},
		{ModeAuto, SetOf(CapNetAdmin, CapSysPtrace), `auto falls back to the netlink provider (process events only)" missing=CAP_BPF,CAP_PERFMON`},
		{ModeAuto, SetOf(CapBPF, CapPerfmon, CapSysPtrace), `auto cannot fall back to it" missing=CAP_NET_ADMIN`},
		{ModeEBPF, SetOf(CapBPF, CapPerfmon, CapSysPtrace), ""},
	} {
		var buf bytes.Buffer
		log := slog.New(slog.NewTextHandler(&buf, nil))
		if err := check(tc.mode, Process{Effective: tc.have, InitialUserNS: true}, log); err != nil {
			t.Fatalf("%s %#x: %v", tc.mode, tc.have, err)
		}
		if got := buf.String(); (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s %#x logged %q, want %q", tc.mode, tc.have, got, tc.want)
		}
	}
}
