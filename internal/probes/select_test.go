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
