package probes

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Failer is a provider that can fail while running: Failed delivers the
// error once, when the provider has stopped delivering events for good.
type Failer interface {
	Failed() <-chan error
}

// Active is the provider in use, which may be replaced while the sensor
// runs (the eBPF provider failing, netlink taking over). It reports the
// drops of every provider it has held, so no count is lost in the switch.
type Active struct {
	mu      sync.Mutex
	current Provider
	reason  string
	retired []Provider
}

// NewActive holds p, selected for reason.
func NewActive(p Provider, reason string) *Active {
	return &Active{current: p, reason: reason}
}

// Name is the current provider's name.
func (a *Active) Name() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.current.Name()
}

// Reason says why the current provider is in use.
func (a *Active) Reason() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.reason
}

// Current is the provider in use.
func (a *Active) Current() Provider {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.current
}

// Drops are the drops of the current and every retired provider.
func (a *Active) Drops() []Drop {
	a.mu.Lock()
	providers := append([]Provider{a.current}, a.retired...)
	a.mu.Unlock()
	var out []Drop
	for _, p := range providers {
		out = append(out, p.Drops()...)
	}
	return out
}

// Syscalls are the syscall counts of the current and retired providers.
func (a *Active) Syscalls() []SyscallCount {
	a.mu.Lock()
	providers := append([]Provider{a.current}, a.retired...)
	a.mu.Unlock()
	var out []SyscallCount
	for _, p := range providers {
		out = append(out, p.Syscalls()...)
	}
	return out
}

// Close closes the current provider (retired ones are closed already).
func (a *Active) Close() error { return a.Current().Close() }

// Supervise waits until the current provider fails, then starts fallback()
// with h, makes it current and closes the failed one; onSwitch is told the
// new provider's name and the reason. It returns when ctx ends, when the
// provider cannot fail, or after a switch (the fallback is not supervised:
// netlink has nothing to fall back to). A fallback that cannot start is
// returned as an error; the failed provider stays retired.
func (a *Active) Supervise(ctx context.Context, h Handler, fallback func() Provider, onSwitch func(name, reason string)) error {
	f, ok := a.Current().(Failer)
	if !ok {
		return nil
	}
	var cause error
	select {
	case <-ctx.Done():
		return nil
	case cause = <-f.Failed():
	}
	failed := a.Current()
	next := fallback()
	startErr := next.Start(ctx, h)
	closeErr := failed.Close() // drains what the failed provider still holds
	a.mu.Lock()
	a.retired = append(a.retired, failed)
	if startErr == nil {
		a.current = next
		a.reason = fmt.Sprintf("%s failed while running (%v); switched to %s", failed.Name(), cause, next.Name())
	}
	reason := a.reason
	a.mu.Unlock()
	if startErr != nil {
		return errors.Join(fmt.Errorf("%s failed while running (%v) and %s could not start: %w", failed.Name(), cause, next.Name(), startErr), closeErr)
	}
	onSwitch(next.Name(), reason)
	return nil
}
