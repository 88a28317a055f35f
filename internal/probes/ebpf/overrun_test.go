package ebpf

import (
	"context"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otel-sensor/otel-sensor/internal/event"
	"github.com/otel-sensor/otel-sensor/internal/kerneltest"
)

// gate blocks the first Handle until opened, so the reader stalls and the
// kernel's ring buffer overflows, then counts what arrives.
type gate struct {
	open    chan struct{}
	arrived atomic.Uint64
	mu      sync.Mutex
	kinds   map[string]int
}

func (g *gate) Handle(ev *event.Event) {
	<-g.open
	g.arrived.Add(1)
	g.mu.Lock()
	g.kinds[ev.Kind.Name()]++
	g.mu.Unlock()
}

// Overrun the ring buffer on purpose: every record the kernel produced either
// arrives or is counted as dropped, exactly.
func TestOverrunDropsAreCounted(t *testing.T) {
	kerneltest.Require(t)
	// The os package probes pidfd support once per process with a child
	// that forks and exits without exec: get it out of the way so that
	// the workload below is all there is.
	if err := exec.Command("/bin/true").Run(); err != nil {
		t.Fatal(err)
	}
	g := &gate{open: make(chan struct{}), kinds: map[string]int{}}
	p := New(Options{RingBufferBytes: 16 << 10, WatchParent: uint32(os.Getpid()), IncludeSelf: true})
	if err := p.Start(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })

	const runs = 300 // each: fork, exec and exit of a child
	for range runs {
		if err := exec.Command("/bin/true").Run(); err != nil {
			t.Fatal(err)
		}
	}
	produced := uint64(3 * runs)
	close(g.open)

	// Wait until every record is accounted for or the reader goes quiet.
	deadline := time.Now().Add(10 * time.Second)
	var dropped uint64
	for time.Now().Before(deadline) {
		dropped = kernelDrops(p)
		if g.arrived.Load()+dropped >= produced {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	arrived := g.arrived.Load()
	t.Logf("produced %d, arrived %d %v, dropped %d", produced, arrived, g.kinds, dropped)
	if dropped == 0 {
		t.Fatalf("a 16 KiB ring buffer held %d records: the test did not overrun it", arrived)
	}
	if arrived+dropped != produced {
		t.Fatalf("arrived %d + dropped %d != produced %d", arrived, dropped, produced)
	}
	// The drops are attributed to the event kinds that were lost.
	var byKind uint64
	for _, d := range p.Drops() {
		if d.Stage == "kernel" && d.Reason == "ringbuf_full" && d.EventName != "" {
			byKind += d.Count
		}
	}
	if byKind != dropped {
		t.Fatalf("drops by event name sum to %d, total %d", byKind, dropped)
	}
}

func kernelDrops(p *Provider) uint64 {
	var n uint64
	for _, d := range p.Drops() {
		if d.Stage == "kernel" {
			n += d.Count
		}
	}
	return n
}
