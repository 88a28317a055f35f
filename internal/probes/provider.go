// Package probes holds the event providers (eBPF and netlink) and the
// interface they share. A provider observes the kernel, decodes what it sees
// into provider-neutral events and hands them to a Handler.
package probes

import (
	"context"

	"github.com/otel-sensor/otel-sensor/internal/event"
)

// Handler receives events. Handle must not block: it is called on the
// provider's read path, and a slow handler would make the kernel drop records.
// The event is not used by the provider after Handle returns, until the
// handler that is last to use it calls its Release (see event.Event.Release).
type Handler interface {
	Handle(ev *event.Event)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ev *event.Event)

// Handle calls f(ev).
func (f HandlerFunc) Handle(ev *event.Event) { f(ev) }

// Drop is a cumulative count of events lost at one stage for one reason.
type Drop struct {
	Stage     string // kernel | decode | queue | export
	Reason    string
	EventName string // empty when the event kind is unknown
	Count     uint64
}

// SyscallCount is a cumulative count of one hooked syscall.
type SyscallCount struct {
	ID    int
	Name  string
	Count uint64
}

// Provider is a source of events.
//
// Start begins delivering events to h and returns once the provider is
// running; a failure half-way through start releases what was acquired.
// Close stops delivery, waits for background work and releases everything;
// it is idempotent and safe without Start.
type Provider interface {
	Name() string
	Start(ctx context.Context, h Handler) error
	// Drops returns the provider's cumulative drop counts. Drops and
	// Syscalls are safe for concurrent use, also after Close (they then
	// report the final counts).
	Drops() []Drop
	// Syscalls returns the cumulative counts of the syscalls the provider hooks.
	Syscalls() []SyscallCount
	Close() error
}
