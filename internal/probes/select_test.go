package probes

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/otel-sensor/otel-sensor/internal/event"
	"github.com/otel-sensor/otel-sensor/internal/probes/policy"
)

// fakeProvider fails Start with err, or runs.
type fakeProvider struct {
	name    string
	err     error
	started bool
	closed  int
}

func (p *fakeProvider) Name() string { return p.name }
func (p *fakeProvider) Start(ctx context.Context, h Handler) error {
	p.started = p.err == nil
	return p.err
}
func (p *fakeProvider) Drops() []Drop            { return nil }
func (p *fakeProvider) Syscalls() []SyscallCount { return nil }
func (p *fakeProvider) Close() error             { p.closed++; return nil }

func TestSelect(t *testing.T) {
	notSupported := fmt.Errorf("load eBPF programs: %w", ebpf.ErrNotSupported)
	verifier := fmt.Errorf("load eBPF programs: %w", &ebpf.VerifierError{Cause: syscall.EINVAL})
	denied := fmt.Errorf("load eBPF programs: %w", syscall.EPERM)
	broken := errors.New("seed process cache: boom")
	for _, tc := range []struct {
		name       string
		mode       string
		ebpfErr    error
		netlinkErr error
		want       string // the active provider; "" for an error
		reason     string // in the reason, or in the error
		tried      []string
	}{
		{"auto uses eBPF when it works", ModeAuto, nil, nil, "ebpf", "auto: eBPF", []string{"ebpf"}},
		{"auto falls back when not supported", ModeAuto, notSupported, nil, "netlink", notSupported.Error(), []string{"ebpf", "netlink"}},
		{"auto falls back when the verifier refuses", ModeAuto, verifier, nil, "netlink", "invalid argument", []string{"ebpf", "netlink"}},
		{"auto falls back when loading is not permitted", ModeAuto, denied, nil, "netlink", "operation not permitted", []string{"ebpf", "netlink"}},
		{"auto does not hide other failures", ModeAuto, broken, nil, "", "boom", []string{"ebpf"}},
		{"auto reports both failures", ModeAuto, notSupported, errors.New("no proc connector"), "", "no proc connector", []string{"ebpf", "netlink"}},
		{"explicit ebpf", ModeEBPF, nil, nil, "ebpf", "configured: ebpf", []string{"ebpf"}},
		{"explicit ebpf never falls back", ModeEBPF, notSupported, nil, "", "no fallback", []string{"ebpf"}},
		{"explicit netlink", ModeNetlink, nil, nil, "netlink", "configured: netlink", []string{"netlink"}},
		{"explicit netlink failure", ModeNetlink, nil, errors.New("no proc connector"), "", "no proc connector", []string{"netlink"}},
		{"unknown mode", "kprobe", nil, nil, "", "kprobe", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tried []string
			ebpfP := &fakeProvider{name: "ebpf", err: tc.ebpfErr}
			netlinkP := &fakeProvider{name: "netlink", err: tc.netlinkErr}
			c := Constructors{
				EBPF:    func() Provider { tried = append(tried, "ebpf"); return ebpfP },
				Netlink: func() Provider { tried = append(tried, "netlink"); return netlinkP },
			}
			p, reason, err := Select(context.Background(), tc.mode, NewHandoff(1), c)
			if !slices.Equal(tried, tc.tried) {
				t.Errorf("tried %v, want %v", tried, tc.tried)
			}
			if tc.want == "" {
				if err == nil {
					t.Fatalf("selected %s (%s), want an error", p.Name(), reason)
				}
				if !strings.Contains(err.Error(), tc.reason) {
					t.Errorf("error %q does not mention %q", err, tc.reason)
				}
			} else {
				if err != nil {
					t.Fatalf("select: %v", err)
				}
				if p.Name() != tc.want || !strings.Contains(reason, tc.reason) {
					t.Errorf("selected %s (%q), want %s with a reason mentioning %q", p.Name(), reason, tc.want, tc.reason)
				}
			}
			// A provider that failed to start is closed; the one
			// returned is running and not closed.
			for _, fp := range []*fakeProvider{ebpfP, netlinkP} {
				if fp.err != nil && slices.Contains(tried, fp.name) && fp.closed == 0 {
					t.Errorf("%s failed to start and was not closed", fp.name)
				}
				if p == Provider(fp) && (!fp.started || fp.closed != 0) {
					t.Errorf("%s returned but started %v closed %d", fp.name, fp.started, fp.closed)
				}
			}
		})
	}
}

// The kernel support policy is consulted before anything is loaded.
func TestSelectPolicy(t *testing.T) {
	notSupported := fmt.Errorf("load eBPF programs: %w", ebpf.ErrNotSupported)
	allowed := policy.Verdict{EBPF: true, Reason: "kernel 6.1.0 on Debian 12 meets the support policy"}
	below := policy.Verdict{Reason: "kernel 4.14 is below the minimum 4.15.0 for Ubuntu 16.04"}
	denyListed := policy.Verdict{Reason: "kernel 5.15.0-0.30.20.el8uek on Oracle Linux 8.8 is on the deny list (hangs)", DenyListed: true}
	for _, tc := range []struct {
		name       string
		mode       string
		verdict    policy.Verdict
		ebpfErr    error
		netlinkErr error
		want       string // the active provider; "" for an error
		reason     []string
		tried      []string
		consulted  bool
	}{
		{"auto, allowed", ModeAuto, allowed, nil, nil, "ebpf", []string{"auto: eBPF programs loaded"}, []string{"ebpf"}, true},
		{"auto, allowed, but the load is refused", ModeAuto, allowed, notSupported, nil, "netlink", []string{"cannot run the eBPF programs"}, []string{"ebpf", "netlink"}, true},
		{"auto, below the minimum: eBPF not loaded", ModeAuto, below, nil, nil, "netlink", []string{"auto: " + below.Reason, "eBPF not loaded"}, []string{"netlink"}, true},
		{"auto, deny-listed: eBPF not loaded", ModeAuto, denyListed, nil, nil, "netlink", []string{denyListed.Reason, "eBPF not loaded"}, []string{"netlink"}, true},
		{"auto, denied, netlink fails too", ModeAuto, below, nil, errors.New("no proc connector"), "", []string{"no proc connector", below.Reason}, []string{"netlink"}, true},
		{"ebpf, deny-listed: refused before loading", ModeEBPF, denyListed, nil, nil, "", []string{"kernel support policy: " + denyListed.Reason, "not loaded"}, nil, true},
		{"ebpf, below the minimum: loaded anyway, and said", ModeEBPF, below, nil, nil, "ebpf", []string{"configured: ebpf", "advises against it (" + below.Reason + ")"}, []string{"ebpf"}, true},
		{"ebpf, below the minimum, the load fails", ModeEBPF, below, notSupported, nil, "", []string{"no fallback"}, []string{"ebpf"}, true},
		{"ebpf, allowed", ModeEBPF, allowed, nil, nil, "ebpf", []string{"configured: ebpf"}, []string{"ebpf"}, true},
		{"netlink: the policy is not consulted", ModeNetlink, denyListed, nil, nil, "netlink", []string{"configured: netlink"}, []string{"netlink"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tried []string
			consulted := false
			ebpfP := &fakeProvider{name: "ebpf", err: tc.ebpfErr}
			netlinkP := &fakeProvider{name: "netlink", err: tc.netlinkErr}
			c := Constructors{
				EBPF:    func() Provider { tried = append(tried, "ebpf"); return ebpfP },
				Netlink: func() Provider { tried = append(tried, "netlink"); return netlinkP },
				Policy:  func() policy.Verdict { consulted = true; return tc.verdict },
			}
			p, reason, err := Select(context.Background(), tc.mode, NewHandoff(1), c)
			if !slices.Equal(tried, tc.tried) || consulted != tc.consulted {
				t.Errorf("tried %v (policy consulted %v), want %v (%v)", tried, consulted, tc.tried, tc.consulted)
			}
			got := reason
			if tc.want == "" {
				if err == nil {
					t.Fatalf("selected %s (%s), want an error", p.Name(), reason)
				}
				got = err.Error()
			} else if err != nil {
				t.Fatalf("select: %v", err)
			} else if p.Name() != tc.want {
				t.Errorf("selected %s (%q), want %s", p.Name(), reason, tc.want)
			}
			for _, r := range tc.reason {
				if !strings.Contains(got, r) {
					t.Errorf("%q does not mention %q", got, r)
				}
			}
		})
	}
}

func TestSelectExplicitEBPFErrorKeepsCause(t *testing.T) {
	c := Constructors{
		EBPF:    func() Provider { return &fakeProvider{name: "ebpf", err: ebpf.ErrNotSupported} },
		Netlink: func() Provider { t.Fatal("netlink tried"); return nil },
	}
	_, _, err := Select(context.Background(), ModeEBPF, NewHandoff(1), c)
	if !errors.Is(err, ebpf.ErrNotSupported) || !strings.Contains(err.Error(), "start ebpf provider") {
		t.Fatalf("error %v does not wrap the cause with the step", err)
	}
}

func TestHandoff(t *testing.T) {
	h := NewHandoff(2)
	evs := []*event.Event{{Kind: event.KindFork}, {Kind: event.KindExec}, {Kind: event.KindExec}, {Kind: event.KindExit}}
	for _, ev := range evs[:3] {
		h.Handle(ev)
	}
	if d := h.Drops(); len(d) != 1 || d[0] != (Drop{Stage: "queue", Reason: "not_connected", EventName: "process.exec", Count: 1}) {
		t.Errorf("drops = %+v", d)
	}
	var got []*event.Event
	h.Connect(HandlerFunc(func(ev *event.Event) { got = append(got, ev) }))
	h.Handle(evs[3])
	if want := []*event.Event{evs[0], evs[1], evs[3]}; !slices.Equal(got, want) {
		t.Errorf("passed on %d events, want the held two then the next, in order", len(got))
	}
}
