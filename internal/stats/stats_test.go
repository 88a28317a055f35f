package stats

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/otel-sensor/otel-sensor/internal/event"
	"github.com/otel-sensor/otel-sensor/internal/probes"
)

type sink struct{ n int }

func (s *sink) Handle(*event.Event) { s.n++ }

func fileEvent(exe, path string) *event.Event {
	return &event.Event{Kind: event.KindFileOpen, Process: event.Process{ExecutablePath: exe}, File: &event.File{Path: path}}
}

func TestWindowCountsOnlyWhileOpen(t *testing.T) {
	next := &sink{}
	tap := &Tap{Next: next}
	tap.Handle(fileEvent("/usr/bin/before", "/before")) // no window: not counted

	calls := []probes.SyscallCount{{ID: 257, Name: "openat", Count: 100}, {ID: 82, Name: "rename", Count: 5}}
	syscalls := func() []probes.SyscallCount { return calls }
	done := make(chan struct{})
	result := make(chan Report)
	go func() { result <- tap.Window(time.Hour, 2, syscalls, done) }()
	for !tap.open.Load() {
		time.Sleep(time.Millisecond)
	}
	for range 3 {
		tap.Handle(fileEvent("/usr/bin/stress-ng", "/var/log/x.log"))
	}
	tap.Handle(fileEvent("/usr/bin/stress-ng", "/tmp/a"))
	tap.Handle(fileEvent("/usr/bin/cp", "/tmp/b"))
	tap.Handle(&event.Event{Kind: event.KindExec, Process: event.Process{ExecutablePath: "/usr/bin/cp"}})
	calls = []probes.SyscallCount{{ID: 257, Name: "openat", Count: 150}, {ID: 82, Name: "rename", Count: 5}, {ID: 87, Name: "unlink", Count: 7}}
	close(done)
	r := <-result
	tap.Handle(fileEvent("/usr/bin/after", "/after")) // window closed

	if next.n != 8 {
		t.Errorf("passed on %d events, want all 8", next.n)
	}
	wantFiles := []PathCount{{"/var/log/x.log", 3}, {"/tmp/a", 1}}
	if len(r.TopFilePaths) != 2 || r.TopFilePaths[0] != wantFiles[0] || r.TopFilePaths[1] != wantFiles[1] {
		t.Errorf("top files %v, want %v", r.TopFilePaths, wantFiles)
	}
	wantInit := []PathCount{{"/usr/bin/stress-ng", 4}, {"/usr/bin/cp", 2}}
	if len(r.TopInitiatorPaths) != 2 || r.TopInitiatorPaths[0] != wantInit[0] || r.TopInitiatorPaths[1] != wantInit[1] {
		t.Errorf("top initiators %v, want %v", r.TopInitiatorPaths, wantInit)
	}
	wantSys := []SyscallCount{{257, "openat", 50}, {87, "unlink", 7}}
	if len(r.TopSyscallIDs) != 2 || r.TopSyscallIDs[0] != wantSys[0] || r.TopSyscallIDs[1] != wantSys[1] {
		t.Errorf("top syscalls %v, want %v (rename made no calls in the window)", r.TopSyscallIDs, wantSys)
	}
	b, _ := json.Marshal(r)
	var back map[string]any
	json.Unmarshal(b, &back)
	for _, k := range []string{"duration_seconds", "top_file_paths", "top_initiator_paths", "top_syscall_ids"} {
		if _, ok := back[k]; !ok {
			t.Errorf("JSON lacks %s: %s", k, b)
		}
	}
}

// OnOpen is called once the window counts, with its length.
func TestOnOpen(t *testing.T) {
	var calls []time.Duration
	tap := &Tap{Next: &sink{}}
	tap.OnOpen = func(d time.Duration) {
		if !tap.open.Load() {
			t.Error("OnOpen called before the window counts")
		}
		calls = append(calls, d)
	}
	done := make(chan struct{})
	close(done)
	tap.Window(time.Hour, 1, func() []probes.SyscallCount { return nil }, done)
	if len(calls) != 1 || calls[0] != time.Hour {
		t.Fatalf("OnOpen calls %v", calls)
	}
}
