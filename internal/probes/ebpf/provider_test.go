package ebpf

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/otel-sensor/otel-sensor/internal/event"
	"github.com/otel-sensor/otel-sensor/internal/kerneltest"
)

// collector gathers the events a provider delivers.
type collector struct {
	mu     sync.Mutex
	events []*event.Event
	cond   chan struct{}
}

func newCollector() *collector { return &collector{cond: make(chan struct{}, 1)} }

func (c *collector) Handle(ev *event.Event) {
	c.mu.Lock()
	c.events = append(c.events, ev)
	c.mu.Unlock()
	select {
	case c.cond <- struct{}{}:
	default:
	}
}

// waitFor returns the first event matching match, failing after a deadline.
func (c *collector) waitFor(t *testing.T, what string, match func(*event.Event) bool) *event.Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		for _, ev := range c.events {
			if match(ev) {
				c.mu.Unlock()
				return ev
			}
		}
		c.mu.Unlock()
		select {
		case <-c.cond:
		case <-deadline:
			t.Fatalf("no %s event within 10s", what)
			return nil
		}
	}
}

func startProvider(t *testing.T, opts Options) (*Provider, *collector) {
	t.Helper()
	kerneltest.Require(t)
	if opts.WatchParent == 0 {
		opts.WatchParent = uint32(os.Getpid())
	}
	opts.IncludeSelf = true
	p := New(opts)
	c := newCollector()
	if err := p.Start(context.Background(), c); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return p, c
}

func TestExecEvent(t *testing.T) {
	_, c := startProvider(t, Options{})
	dir := t.TempDir()
	args := []string{"/bin/echo", "plain", "with space", "new\nline", "bad\xff\xfeutf8", ""}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	pid := uint32(cmd.Process.Pid)
	ev := c.waitFor(t, "process.exec", func(ev *event.Event) bool {
		return ev.Kind == event.KindExec && ev.Process.PID == pid
	})
	wantExe, _ := filepath.EvalSymlinks("/bin/echo")
	if ev.Process.ExecutablePath != wantExe {
		t.Errorf("executable = %q, want %q", ev.Process.ExecutablePath, wantExe)
	}
	if !slices.Equal(ev.Exec.Args, args) {
		t.Errorf("args = %q, want %q", ev.Exec.Args, args)
	}
	if ev.Exec.ArgsCount != len(args) {
		t.Errorf("args count = %d, want %d", ev.Exec.ArgsCount, len(args))
	}
	if ev.Exec.WorkingDirectory != dir {
		t.Errorf("cwd = %q, want %q", ev.Exec.WorkingDirectory, dir)
	}
	if ev.Process.ParentPID != uint32(os.Getpid()) {
		t.Errorf("parent = %d, want %d", ev.Process.ParentPID, os.Getpid())
	}
	self, _ := os.Executable()
	if ev.Process.ParentExecutablePath != self {
		t.Errorf("parent executable = %q, want %q", ev.Process.ParentExecutablePath, self)
	}
	t.Logf("time %s observed %s start %s", ev.Time, ev.Observed, ev.Process.StartTime)
}
