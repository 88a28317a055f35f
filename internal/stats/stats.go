// Package stats counts what makes the sensor busy — file paths, initiator
// executables, syscalls — over a window, for `otel-sensor diagnostic stats`.
//
// A Tap sits in front of a handler and counts only while a window is open,
// so it costs one atomic load per event otherwise. The report format is the
// design contract's (diagnostic stats --output json).
package stats

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otel-sensor/otel-sensor/internal/event"
	"github.com/otel-sensor/otel-sensor/internal/probes"
)

// PathCount is one row of a top list of paths.
type PathCount struct {
	Path  string `json:"path"`
	Count uint64 `json:"count"`
}

// SyscallCount is one row of the top syscalls.
type SyscallCount struct {
	ID    int    `json:"id"`
	Name  string `json:"name"`
	Count uint64 `json:"count"`
}

// Report is what a window saw.
type Report struct {
	DurationSeconds   float64        `json:"duration_seconds"`
	TopFilePaths      []PathCount    `json:"top_file_paths"`
	TopInitiatorPaths []PathCount    `json:"top_initiator_paths"`
	TopSyscallIDs     []SyscallCount `json:"top_syscall_ids"`
}

// Tap counts the events it passes on to Next while a window is open.
type Tap struct {
	Next probes.Handler
	// OnOpen, when set, is called once a window is open and counting,
	// with the window's length (the daemon logs it).
	OnOpen func(d time.Duration)

	open       atomic.Bool
	window     sync.Mutex // one window at a time
	mu         sync.Mutex
	files      map[string]uint64
	initiators map[string]uint64
}

// Handle counts ev when a window is open and passes it on.
func (t *Tap) Handle(ev *event.Event) {
	if t.open.Load() {
		t.count(ev)
	}
	t.Next.Handle(ev)
}

func (t *Tap) count(ev *event.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.files == nil {
		return
	}
	if ev.Process.ExecutablePath != "" {
		t.initiators[ev.Process.ExecutablePath]++
	}
	if ev.File != nil && ev.File.Path != "" {
		t.files[ev.File.Path]++
	}
}

// Window opens a counting window, waits for d (or ctxDone), and returns the
// report with the top n of each list. syscalls reads the provider's
// cumulative syscall counters: the window's counts are the difference.
// Windows do not overlap: a second caller waits for the first.
func (t *Tap) Window(d time.Duration, n int, syscalls func() []probes.SyscallCount, done <-chan struct{}) Report {
	t.window.Lock()
	defer t.window.Unlock()
	t.mu.Lock()
	t.files, t.initiators = map[string]uint64{}, map[string]uint64{}
	t.mu.Unlock()
	before := syscallMap(syscalls)
	start := time.Now()
	t.open.Store(true)
	if t.OnOpen != nil {
		t.OnOpen(d)
	}
	timer := time.NewTimer(d)
	select {
	case <-timer.C:
	case <-done:
		timer.Stop()
	}
	t.open.Store(false)
	elapsed := time.Since(start)
	after := syscalls()

	t.mu.Lock()
	files, initiators := t.files, t.initiators
	t.files, t.initiators = nil, nil
	t.mu.Unlock()

	r := Report{
		DurationSeconds:   elapsed.Round(time.Millisecond).Seconds(),
		TopFilePaths:      top(files, n),
		TopInitiatorPaths: top(initiators, n),
		TopSyscallIDs:     []SyscallCount{},
	}
	for _, s := range after {
		if c := s.Count - before[s.ID]; c > 0 {
			r.TopSyscallIDs = append(r.TopSyscallIDs, SyscallCount{ID: s.ID, Name: s.Name, Count: c})
		}
	}
	slices.SortFunc(r.TopSyscallIDs, func(a, b SyscallCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.ID, b.ID))
	})
	if len(r.TopSyscallIDs) > n {
		r.TopSyscallIDs = r.TopSyscallIDs[:n]
	}
	return r
}

func syscallMap(f func() []probes.SyscallCount) map[int]uint64 {
	m := map[int]uint64{}
	for _, s := range f() {
		m[s.ID] = s.Count
	}
	return m
}

// top returns the n largest counts, ties by path.
func top(m map[string]uint64, n int) []PathCount {
	out := make([]PathCount, 0, len(m))
	for p, c := range m {
		out = append(out, PathCount{Path: p, Count: c})
	}
	slices.SortFunc(out, func(a, b PathCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Path, b.Path))
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}
