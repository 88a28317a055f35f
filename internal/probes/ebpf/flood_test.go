package ebpf

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otel-sensor/otel-sensor/internal/export"
	"github.com/otel-sensor/otel-sensor/internal/kerneltest"
)

// slowExporter ships 100 records per 20 ms at best: a collector far slower
// than the workload.
type slowExporter struct{ records atomic.Uint64 }

func (s *slowExporter) ExportLogs(ctx context.Context, ld plog.Logs) error {
	time.Sleep(20 * time.Millisecond)
	s.records.Add(uint64(ld.LogRecordCount()))
	return nil
}
func (s *slowExporter) ExportMetrics(context.Context, pmetric.Metrics) error { return nil }
func (s *slowExporter) Shutdown(context.Context) error                       { return nil }

// A workload that creates files far faster than the exporter can ship them:
// every event is either exported or counted as dropped, at the stage where
// it was lost; nothing disappears, and the sensor still stops promptly.
func TestFileFloodDropsAreExact(t *testing.T) {
	kerneltest.Require(t)
	// The os package's one-time pidfd probe forks a child of its own:
	// get it done before counting (see TestOverrunDropsAreCounted).
	if err := exec.Command("/bin/true").Run(); err != nil {
		t.Fatal(err)
	}
	exp := &slowExporter{}
	p := New(Options{RingBufferBytes: 256 << 10, WatchParent: uint32(os.Getpid()), IncludeSelf: true})
	pipe := export.NewPipeline(export.Resource{}, exp, export.PipelineConfig{
		QueueSize: 2000, MaxBatch: 100, FlushInterval: 10 * time.Millisecond, MetricsInterval: time.Hour,
		Provider: "ebpf", Drops: p.Drops, Syscalls: p.Syscalls,
	})
	if err := pipe.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background(), pipe); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })

	const files = 50000
	d := t.TempDir()
	start := time.Now()
	if _, errno := runFileOp(t, d, "flood", d, strconv.Itoa(files)); errno != 0 {
		t.Fatalf("flood: errno %d", errno)
	}
	t.Logf("%d creates in %s", files, time.Since(start))

	// Stop as the CLI does: drain the kernel, then flush the pipeline.
	stop := time.Now()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pipe.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if took := time.Since(stop); took > 20*time.Second {
		t.Errorf("stopping took %s", took)
	}

	// The child's events: its fork, its exec, one open per create, its exit.
	produced := uint64(files + 3)
	st := pipe.Status()
	var kernel, queue uint64
	for _, d := range p.Drops() {
		kernel += d.Count
	}
	queue = st.DroppedTotal - kernel
	exported := exp.records.Load()
	t.Logf("produced %d: exported %d, dropped in the kernel %d, in the queue %d", produced, exported, kernel, queue)
	if kernel+queue == 0 {
		t.Fatal("nothing was dropped: the exporter kept up and the test proves nothing")
	}
	if exported+kernel+queue != produced {
		t.Fatalf("exported %d + dropped %d + %d = %d, produced %d", exported, kernel, queue, exported+kernel+queue, produced)
	}
}
