package probes

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otel-sensor/otel-sensor/internal/event"
)

// failing is a provider that fails on demand; its events go to its handler.
type failing struct {
	name    string
	h       Handler
	failed  chan error
	closed  atomic.Bool
	drops   uint64
	started bool
}

func (f *failing) Name() string { return f.name }
func (f *failing) Start(ctx context.Context, h Handler) error {
	f.h, f.started = h, true
	return nil
}
func (f *failing) Drops() []Drop {
	return []Drop{{Stage: "kernel", Reason: "ringbuf_full", Count: f.drops}}
}
func (f *failing) Syscalls() []SyscallCount { return nil }
func (f *failing) Close() error             { f.closed.Store(true); return nil }
func (f *failing) Failed() <-chan error     { return f.failed }

func TestSuperviseSwitchesOnFailure(t *testing.T) {
	ebpf := &failing{name: "ebpf", failed: make(chan error, 1), drops: 7}
	netlink := &failing{name: "netlink", failed: make(chan error, 1), drops: 2}
	a := NewActive(ebpf, "auto: eBPF loaded")
	var got []*event.Event
	h := HandlerFunc(func(ev *event.Event) { got = append(got, ev) })

	switched := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- a.Supervise(context.Background(), h, func() Provider { return netlink }, func(name, reason string) { switched <- name + ": " + reason })
	}()
	ebpf.failed <- errors.New("ring buffer read failed")
	select {
	case s := <-switched:
		if !strings.HasPrefix(s, "netlink: ebpf failed while running (ring buffer read failed)") {
			t.Errorf("switch said %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no switch")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if a.Name() != "netlink" || !strings.Contains(a.Reason(), "switched to netlink") {
		t.Errorf("active %s (%s)", a.Name(), a.Reason())
	}
	if !ebpf.closed.Load() || !netlink.started {
		t.Errorf("failed provider closed %v, fallback started %v", ebpf.closed.Load(), netlink.started)
	}
	netlink.h.Handle(&event.Event{Kind: event.KindExec})
	if len(got) != 1 {
		t.Errorf("the fallback's events do not reach the handler")
	}
	var total uint64
	for _, d := range a.Drops() {
		total += d.Count
	}
	if total != 9 {
		t.Errorf("drops after the switch sum to %d, want both providers' 9", total)
	}
}

func TestSuperviseReturnsOnCancel(t *testing.T) {
	p := &failing{name: "ebpf", failed: make(chan error)}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := NewActive(p, "").Supervise(ctx, HandlerFunc(func(*event.Event) {}), nil, nil); err != nil {
		t.Fatal(err)
	}
	if p.closed.Load() {
		t.Error("a provider that did not fail was closed")
	}
}
