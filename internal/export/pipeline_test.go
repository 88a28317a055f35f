package export

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otel-sensor/otel-sensor/internal/event"
	"github.com/otel-sensor/otel-sensor/internal/probes"
)

// fakeExporter records what it is given. Tests wait on its state with
// waitUntil, which wakes on every change.
type fakeExporter struct {
	mu        sync.Mutex
	changed   chan struct{} // closed and replaced on every change
	batches   []int         // records per ExportLogs call
	sizes     []int         // OTLP protobuf bytes per ExportLogs call
	jsons     [][]byte      // OTLP JSON of every ExportLogs call
	pids      []uint32      // process.pid of every record, in order
	metrics   []pmetric.Metrics
	entered   int // ExportLogs calls begun
	shutdowns int

	block   chan struct{} // when non-nil, ExportLogs waits for it to close
	logsErr error         // returned by ExportLogs
}

func newFakeExporter() *fakeExporter {
	return &fakeExporter{changed: make(chan struct{})}
}

func (f *fakeExporter) notify() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeExporter) ExportLogs(ctx context.Context, ld plog.Logs) error {
	f.mu.Lock()
	f.entered++
	f.notify()
	block := f.block
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.notify()
	if f.logsErr != nil {
		return f.logsErr
	}
	f.batches = append(f.batches, ld.LogRecordCount())
	f.sizes = append(f.sizes, (&plog.ProtoMarshaler{}).LogsSize(ld))
	// The pipeline reuses ld once the export returned: keep a copy.
	b, err := (&plog.JSONMarshaler{}).MarshalLogs(ld)
	if err != nil {
		return err
	}
	f.jsons = append(f.jsons, b)
	records := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	for i := range records.Len() {
		pid, _ := records.At(i).Attributes().Get("process.pid")
		f.pids = append(f.pids, uint32(pid.Int()))
	}
	return nil
}

func (f *fakeExporter) ExportMetrics(ctx context.Context, md pmetric.Metrics) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.metrics = append(f.metrics, md)
	f.notify()
	return nil
}

func (f *fakeExporter) Shutdown(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shutdowns++
	f.notify()
	return nil
}

// waitUntil waits until cond, called with f locked, holds.
func (f *fakeExporter) waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		ok, changed := cond(), f.changed
		f.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (f *fakeExporter) records() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.pids)
}

func (f *fakeExporter) lastMetrics(t *testing.T) pmetric.Metrics {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.metrics) == 0 {
		t.Fatal("no metrics exported")
	}
	return f.metrics[len(f.metrics)-1]
}

// newTestPipeline returns a started pipeline whose Shutdown runs at cleanup.
func newTestPipeline(t *testing.T, exp Exporter, cfg PipelineConfig) *Pipeline {
	t.Helper()
	p := NewPipeline(testResource, exp, cfg)
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	return p
}

func newEvent(kind event.Kind, pid uint32) *event.Event {
	return &event.Event{Kind: kind, Time: eventTime, Process: event.Process{PID: pid}}
}

func shutdown(t *testing.T, p *Pipeline) {
	t.Helper()
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// waitFor polls cond until it holds, for state no notification covers.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPipelineQueueOverflow(t *testing.T) {
	exp := newFakeExporter()
	exp.block = make(chan struct{})
	p := newTestPipeline(t, exp, PipelineConfig{QueueSize: 4, MaxBatch: 1, FlushInterval: time.Hour, MetricsInterval: time.Hour})

	// The sender takes the first event's batch and blocks in the
	// exporter; the batcher maps the second event into the other batch,
	// and then has none to map into.
	p.Handle(newEvent(event.KindExec, 1))
	exp.waitUntil(t, "the exporter to be busy", func() bool { return exp.entered == 1 })
	p.Handle(newEvent(event.KindExec, 2))
	waitFor(t, "the second batch to be mapped", func() bool { return p.Status().Queued == 0 })

	// Now the queue fills and then drops.
	for pid := uint32(3); pid <= 11; pid++ {
		p.Handle(newEvent(event.KindExec, pid))
	}
	st := p.Status()
	if st.EventsTotal != 6 || st.DroppedTotal != 5 || st.Queued != 4 || st.QueueCapacity != 4 {
		t.Errorf("status = %+v, want 6 accepted, 5 dropped, 4 queued of 4", st)
	}
	if exp.records() != 0 {
		t.Errorf("%d records exported while the exporter was blocked", exp.records())
	}

	close(exp.block)
	shutdown(t, p)
	if got, want := exp.pids, []uint32{1, 2, 3, 4, 5, 6}; !slices.Equal(got, want) {
		t.Errorf("exported pids %v, want %v", got, want)
	}
	md := exp.lastMetrics(t)
	checkPoints(t, md, MetricEvents, map[string]int64{"event.name=process.exec": 6})
	checkPoints(t, md, MetricEventsDropped, map[string]int64{
		"event.name=process.exec,reason=queue_full,stage=queue": 5,
	})
}

// The pipeline releases each event exactly once: once mapped, dropped at
// the queue, or handed to it after Shutdown. A release poisons the event
// as a provider's reuse would, which would show in the export of an event
// released before it was mapped.
func TestPipelineReleasesEvents(t *testing.T) {
	exp := newFakeExporter()
	exp.block = make(chan struct{})
	p := newTestPipeline(t, exp, PipelineConfig{QueueSize: 4, MaxBatch: 1, FlushInterval: time.Hour, MetricsInterval: time.Hour})
	var mu sync.Mutex
	released := map[uint32]int{}
	handle := func(pid uint32) {
		ev := newEvent(event.KindExec, pid)
		ev.SetRelease(func() {
			mu.Lock()
			released[pid]++
			mu.Unlock()
			ev.Process.PID = 0
		})
		p.Handle(ev)
	}
	releases := func(pid uint32) int {
		mu.Lock()
		defer mu.Unlock()
		return released[pid]
	}

	// As in TestPipelineQueueOverflow: 1 and 2 mapped, 3 to 6 queued, 7 to
	// 11 dropped at the queue.
	handle(1)
	exp.waitUntil(t, "the exporter to be busy", func() bool { return exp.entered == 1 })
	handle(2)
	waitFor(t, "the second event to be mapped and released", func() bool { return releases(2) == 1 })
	for pid := uint32(3); pid <= 11; pid++ {
		handle(pid)
	}
	for pid, want := range map[uint32]int{1: 1, 3: 0, 6: 0, 7: 1, 11: 1} {
		if got := releases(pid); got != want {
			t.Errorf("event %d released %d times before the exporter went on, want %d", pid, got, want)
		}
	}
	close(exp.block)
	shutdown(t, p)
	handle(12) // after Shutdown
	if got, want := exp.pids, []uint32{1, 2, 3, 4, 5, 6}; !slices.Equal(got, want) {
		t.Errorf("exported pids %v, want %v", got, want)
	}
	for pid := uint32(1); pid <= 12; pid++ {
		if got := releases(pid); got != 1 {
			t.Errorf("event %d released %d times, want once", pid, got)
		}
	}
}

func TestPipelineShutdownDrains(t *testing.T) {
	exp := newFakeExporter()
	p := NewPipeline(testResource, exp, PipelineConfig{QueueSize: 1000, MaxBatch: 64, FlushInterval: time.Hour, MetricsInterval: time.Hour})
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	// Queued before Start and after: all of it must come out, in order.
	const n = 300
	for pid := uint32(1); pid <= n/2; pid++ {
		p.Handle(newEvent(event.KindFork, pid))
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for pid := uint32(n/2 + 1); pid <= n; pid++ {
		p.Handle(newEvent(event.KindFork, pid))
	}
	shutdown(t, p)

	if len(exp.pids) != n {
		t.Fatalf("exported %d events, want %d", len(exp.pids), n)
	}
	for i, pid := range exp.pids {
		if pid != uint32(i+1) {
			t.Fatalf("event %d has pid %d: order not kept", i, pid)
		}
	}
	for _, b := range exp.batches {
		if b > 64 {
			t.Errorf("batch of %d records, MaxBatch is 64", b)
		}
	}
	if exp.shutdowns != 1 {
		t.Errorf("exporter shut down %d times, want 1", exp.shutdowns)
	}
	if st := p.Status(); st.EventsTotal != n || st.DroppedTotal != 0 || st.Queued != 0 {
		t.Errorf("status = %+v", st)
	}
}

func TestPipelineBatchesBySize(t *testing.T) {
	exp := newFakeExporter()
	p := newTestPipeline(t, exp, PipelineConfig{MaxBatch: 3, FlushInterval: time.Hour, MetricsInterval: time.Hour})
	for pid := uint32(1); pid <= 7; pid++ {
		p.Handle(newEvent(event.KindExec, pid))
	}
	exp.waitUntil(t, "two full batches", func() bool { return len(exp.batches) == 2 })
	shutdown(t, p)
	if got, want := exp.batches, []int{3, 3, 1}; !slices.Equal(got, want) {
		t.Errorf("batches = %v, want %v", got, want)
	}
}

// The next batch is mapped while one is exported: the batcher does not
// wait for the export's answer to take events off the queue.
func TestPipelineMapsWhileExporting(t *testing.T) {
	exp := newFakeExporter()
	exp.block = make(chan struct{})
	p := newTestPipeline(t, exp, PipelineConfig{QueueSize: 100, MaxBatch: 3, FlushInterval: time.Hour, MetricsInterval: time.Hour})
	for pid := uint32(1); pid <= 3; pid++ {
		p.Handle(newEvent(event.KindExec, pid))
	}
	exp.waitUntil(t, "the first export to begin", func() bool { return exp.entered == 1 })
	for pid := uint32(4); pid <= 6; pid++ {
		p.Handle(newEvent(event.KindExec, pid))
	}
	waitFor(t, "the second batch to be mapped during the first export", func() bool { return p.Status().Queued == 0 })
	exp.mu.Lock()
	entered, exported := exp.entered, len(exp.pids)
	exp.mu.Unlock()
	if entered != 1 || exported != 0 {
		t.Fatalf("%d exports begun, %d records exported: the first export should still be blocked", entered, exported)
	}
	close(exp.block)
	exp.waitUntil(t, "both batches", func() bool { return len(exp.batches) == 2 })
	shutdown(t, p)
	if got, want := exp.pids, []uint32{1, 2, 3, 4, 5, 6}; !slices.Equal(got, want) {
		t.Errorf("exported pids %v, want %v", got, want)
	}
}

// With Exports 2, two batches are exported at once and a third is mapped
// meanwhile; every event is exported once, and a failed export is counted
// whichever sender ran it.
func TestPipelineConcurrentExports(t *testing.T) {
	exp := newFakeExporter()
	exp.block = make(chan struct{})
	p := newTestPipeline(t, exp, PipelineConfig{QueueSize: 100, MaxBatch: 2, Exports: 2, FlushInterval: time.Hour, MetricsInterval: time.Hour})
	for pid := uint32(1); pid <= 6; pid++ {
		p.Handle(newEvent(event.KindFork, pid))
	}
	exp.waitUntil(t, "two exports in flight", func() bool { return exp.entered == 2 })
	waitFor(t, "the third batch to be mapped", func() bool { return p.Status().Queued == 0 })
	exp.mu.Lock()
	entered, exported := exp.entered, len(exp.pids)
	exp.mu.Unlock()
	if entered != 2 || exported != 0 {
		t.Fatalf("%d exports begun, %d records exported; want 2 blocked exports", entered, exported)
	}
	close(exp.block)
	exp.waitUntil(t, "all records", func() bool { return len(exp.pids) == 6 })

	exp.mu.Lock()
	exp.logsErr = errors.New("collector unavailable")
	exp.mu.Unlock()
	for pid := uint32(7); pid <= 12; pid++ {
		p.Handle(newEvent(event.KindExec, pid))
	}
	shutdown(t, p)
	got := slices.Sorted(slices.Values(exp.pids))
	if want := []uint32{1, 2, 3, 4, 5, 6}; !slices.Equal(got, want) {
		t.Errorf("exported pids %v, want %v, each once", got, want)
	}
	md := exp.lastMetrics(t)
	checkPoints(t, md, MetricEvents, map[string]int64{"event.name=process.fork": 6, "event.name=process.exec": 6})
	checkPoints(t, md, MetricEventsDropped, map[string]int64{
		"event.name=process.exec,reason=export_failed,stage=export": 6,
	})
}

// A batch ends before the record that would take it over MaxBatchBytes;
// a record larger than that goes alone.
func TestPipelineBatchesByBytes(t *testing.T) {
	evs := fileOpenBatch(40)
	big := *evs[0]
	big.File = &event.File{Path: "/" + strings.Repeat("x", 9000), OwnerID: event.NoID, GroupID: event.NoID}
	evs = slices.Insert(evs, 20, &big)
	var m eventMapper
	l := m.mapAttrs(evs[0])
	limit := 5*recordSize(evs[0], l) + 3000 // about 5 records and the resource

	exp := newFakeExporter()
	p := NewPipeline(testResource, exp, PipelineConfig{MaxBatch: 1000, MaxBatchBytes: limit, FlushInterval: time.Hour, MetricsInterval: time.Hour})
	for _, ev := range evs {
		p.Handle(ev)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	shutdown(t, p)
	if len(exp.pids) != len(evs) {
		t.Fatalf("exported %d records, want %d", len(exp.pids), len(evs))
	}
	// The size bound of records i..j-1 as the pipeline estimates it.
	estimate := func(i, j int) int {
		b := newLogsBatch()
		b.setResource(&testResource)
		for _, ev := range evs[i:j] {
			l := m.mapAttrs(ev)
			b.add(ev, l, recordSize(ev, l))
		}
		return b.size()
	}
	alone, first := false, 0
	for i, n := range exp.batches {
		switch {
		case exp.sizes[i] > limit && n == 1:
			alone = true
		case exp.sizes[i] > limit:
			t.Errorf("batch %d: %d records, %d bytes over the bound of %d", i, n, exp.sizes[i], limit)
		case i < len(exp.batches)-1 && estimate(first, first+n+1) <= limit:
			t.Errorf("batch %d of %d records ended although the next record fitted", i, n)
		}
		first += n
	}
	if !alone {
		t.Errorf("the oversized record was not sent alone: batches %v, sizes %v", exp.batches, exp.sizes)
	}
}

// Batches are mapped into reused records: what is exported is what a fresh
// mapping of the same events gives, batch after batch, whatever the kinds
// that came before.
func TestPipelineReusedBatchesExact(t *testing.T) {
	var evs []*event.Event
	all := allTestEvents()
	for i := range 200 {
		evs = append(evs, all[(i*7)%len(all)])
		if i%3 == 0 {
			evs = append(evs, fileOpenBatch(5)...)
		}
	}
	const maxBatch = 16
	exp := newFakeExporter()
	p := NewPipeline(testResource, exp, PipelineConfig{QueueSize: len(evs), MaxBatch: maxBatch, FlushInterval: time.Hour, MetricsInterval: time.Hour})
	for _, ev := range evs {
		p.Handle(ev)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	shutdown(t, p)
	i := 0
	for n, got := range exp.jsons {
		size := exp.batches[n]
		want := logsJSONBytes(t, freshLogs(testResource, evs[i:i+size]))
		if !bytes.Equal(got, want) {
			t.Fatalf("batch %d (records %d-%d) differs from a fresh mapping:\n got %s\nwant %s", n, i, i+size, got, want)
		}
		i += size
	}
	if i != len(evs) {
		t.Errorf("exported %d records, want %d", i, len(evs))
	}
}

func TestPipelineFlushesPartialBatch(t *testing.T) {
	exp := newFakeExporter()
	p := newTestPipeline(t, exp, PipelineConfig{MaxBatch: 100, FlushInterval: 5 * time.Millisecond, MetricsInterval: time.Hour})
	p.Handle(newEvent(event.KindExec, 1))
	p.Handle(newEvent(event.KindExit, 2))
	// Without the flush interval nothing would be exported before Shutdown.
	exp.waitUntil(t, "the partial batch", func() bool { return len(exp.pids) == 2 })
}

func TestPipelineExportFailure(t *testing.T) {
	exp := newFakeExporter()
	exp.logsErr = errors.New("collector unavailable")
	p := newTestPipeline(t, exp, PipelineConfig{MaxBatch: 2, FlushInterval: time.Hour, MetricsInterval: time.Hour})
	for pid := uint32(1); pid <= 5; pid++ {
		p.Handle(newEvent(event.KindFork, pid))
	}
	exp.waitUntil(t, "two failed exports", func() bool { return exp.entered == 2 })
	if err := p.Status().LastError; err == nil || err.Error() != "collector unavailable" {
		t.Errorf("LastError = %v", err)
	}
	shutdown(t, p)
	md := exp.lastMetrics(t)
	checkPoints(t, md, MetricEvents, map[string]int64{"event.name=process.fork": 5})
	checkPoints(t, md, MetricEventsDropped, map[string]int64{
		"event.name=process.fork,reason=export_failed,stage=export": 5,
	})
	if st := p.Status(); st.EventsTotal != 5 || st.DroppedTotal != 5 {
		t.Errorf("status = %+v", st)
	}
}

func TestPipelineShutdownDeadline(t *testing.T) {
	exp := newFakeExporter()
	exp.block = make(chan struct{}) // never released: the collector hangs
	p := newTestPipeline(t, exp, PipelineConfig{QueueSize: 100, MaxBatch: 2, FlushInterval: time.Hour, MetricsInterval: time.Hour})
	for pid := uint32(1); pid <= 10; pid++ {
		p.Handle(newEvent(event.KindExec, pid))
	}
	exp.waitUntil(t, "the exporter to be busy", func() bool { return exp.entered == 1 })

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown past its deadline: %v, want context.Canceled", err)
	}
	// Nothing vanished: when Shutdown returns, every accepted event is
	// counted as dropped (the summary the sensor logs at exit reads them
	// then), by its stage and reason.
	st := p.Status()
	if st.EventsTotal != 10 || st.DroppedTotal != 10 {
		t.Errorf("status = %+v, want 10 accepted and 10 dropped", st)
	}
	var n uint64
	for _, d := range st.Drops {
		if d.Stage == "" || d.Reason == "" || d.EventName != "process.exec" || d.Count == 0 {
			t.Errorf("drop %+v", d)
		}
		n += d.Count
	}
	if n != st.DroppedTotal {
		t.Errorf("drops %+v sum to %d, want %d", st.Drops, n, st.DroppedTotal)
	}
	<-p.done
}

func TestPipelineLifecycle(t *testing.T) {
	exp := newFakeExporter()
	p := NewPipeline(testResource, exp, PipelineConfig{})
	p.Handle(newEvent(event.KindExec, 1))
	// Shutdown without Start still exports what was queued, and the metrics.
	shutdown(t, p)
	if len(exp.pids) != 1 || len(exp.metrics) != 1 || exp.shutdowns != 1 {
		t.Errorf("after Shutdown without Start: %d events, %d metrics, %d shutdowns", len(exp.pids), len(exp.metrics), exp.shutdowns)
	}
	shutdown(t, p)
	if exp.shutdowns != 1 || len(exp.metrics) != 1 {
		t.Errorf("second Shutdown did work again: %d shutdowns, %d metrics", exp.shutdowns, len(exp.metrics))
	}
	if err := p.Start(context.Background()); err == nil {
		t.Error("Start after Shutdown succeeded")
	}
	p.Handle(newEvent(event.KindExit, 2))
	if st := p.Status(); st.DroppedTotal != 1 {
		t.Errorf("an event handed after Shutdown was not counted as dropped: %+v", st)
	}

	started := newTestPipeline(t, newFakeExporter(), PipelineConfig{})
	if err := started.Start(context.Background()); err == nil {
		t.Error("second Start succeeded")
	}
	shutdown(t, started)
	shutdown(t, started)
}

func TestPipelineMetrics(t *testing.T) {
	exp := newFakeExporter()
	p := NewPipeline(testResource, exp, PipelineConfig{
		Provider: "ebpf",
		Drops: func() []probes.Drop {
			return []probes.Drop{
				{Stage: "kernel", Reason: "ringbuf_full", EventName: "process.exec", Count: 0},
				{Stage: "decode", Reason: "malformed", Count: 2},
			}
		},
		Syscalls: func() []probes.SyscallCount {
			return []probes.SyscallCount{{ID: 105, Name: "setuid", Count: 0}, {ID: 59, Name: "execve", Count: 10}}
		},
	})
	before := time.Now()
	p.Handle(newEvent(event.KindExec, 1))
	p.Handle(newEvent(event.KindExec, 2))
	p.Handle(newEvent(event.KindExit, 3))
	shutdown(t, p)

	md := exp.lastMetrics(t)
	rm := md.ResourceMetrics().At(0)
	if !rm.Resource().Attributes().Equal(NewLogs(testResource, nil).ResourceLogs().At(0).Resource().Attributes()) {
		t.Error("metrics resource differs from the logs resource")
	}
	if s := rm.ScopeMetrics().At(0).Scope(); s.Name() != ScopeName || s.Version() != testResource.Version {
		t.Errorf("scope = %q %q", s.Name(), s.Version())
	}
	checkPoints(t, md, MetricEvents, map[string]int64{
		"event.name=process.exec": 2,
		"event.name=process.exit": 1,
	})
	checkPoints(t, md, MetricEventsDropped, map[string]int64{
		"event.name=process.exec,reason=ringbuf_full,stage=kernel": 0, // reported even when zero
		"reason=malformed,stage=decode":                            2,
	})
	checkPoints(t, md, MetricSyscalls, map[string]int64{"syscall.id=59,syscall.name=execve": 10})
	checkPoints(t, md, MetricProviderStatus, map[string]int64{"provider=ebpf": 1})

	for name, unit := range map[string]string{
		MetricEvents: "{event}", MetricEventsDropped: "{event}", MetricSyscalls: "{syscall}", MetricProviderStatus: "1",
	} {
		m := findMetric(t, md, name)
		if m.Unit() != unit {
			t.Errorf("%s unit = %q, want %q", name, m.Unit(), unit)
		}
		if name == MetricProviderStatus {
			if m.Type() != pmetric.MetricTypeGauge {
				t.Errorf("%s is a %v, want a gauge", name, m.Type())
			}
			continue
		}
		if m.Type() != pmetric.MetricTypeSum || !m.Sum().IsMonotonic() ||
			m.Sum().AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
			t.Errorf("%s is not a cumulative monotonic sum", name)
			continue
		}
		dp := m.Sum().DataPoints().At(0)
		start, ts := dp.StartTimestamp().AsTime(), dp.Timestamp().AsTime()
		if start.After(before) || start.IsZero() || ts.Before(start) {
			t.Errorf("%s: start %v, time %v", name, start, ts)
		}
	}
}

func TestPipelineMetricsInterval(t *testing.T) {
	exp := newFakeExporter()
	newTestPipeline(t, exp, PipelineConfig{Provider: "netlink", MetricsInterval: 5 * time.Millisecond})
	exp.waitUntil(t, "two periodic metrics exports", func() bool { return len(exp.metrics) >= 2 })
}

func TestPipelineConcurrentHandle(t *testing.T) {
	exp := newFakeExporter()
	p := newTestPipeline(t, exp, PipelineConfig{QueueSize: 64, MaxBatch: 16, FlushInterval: time.Millisecond})
	const goroutines, each = 8, 500
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				p.Handle(newEvent(event.KindFork, uint32(g*each+i+1)))
			}
		})
	}
	wg.Wait()
	shutdown(t, p)
	st := p.Status()
	if st.EventsTotal+st.DroppedTotal != goroutines*each {
		t.Errorf("accepted %d + dropped %d != delivered %d", st.EventsTotal, st.DroppedTotal, goroutines*each)
	}
	if uint64(exp.records()) != st.EventsTotal {
		t.Errorf("exported %d, accepted %d", exp.records(), st.EventsTotal)
	}
}

func findMetric(t *testing.T, md pmetric.Metrics, name string) pmetric.Metric {
	t.Helper()
	ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	for i := range ms.Len() {
		if ms.At(i).Name() == name {
			return ms.At(i)
		}
	}
	t.Fatalf("metric %s missing", name)
	return pmetric.Metric{}
}

// checkPoints compares a metric's data points, keyed by their attributes
// ("k=v,..." sorted by key), with want.
func checkPoints(t *testing.T, md pmetric.Metrics, name string, want map[string]int64) {
	t.Helper()
	m := findMetric(t, md, name)
	var dps pmetric.NumberDataPointSlice
	switch m.Type() {
	case pmetric.MetricTypeSum:
		dps = m.Sum().DataPoints()
	case pmetric.MetricTypeGauge:
		dps = m.Gauge().DataPoints()
	}
	got := map[string]int64{}
	for i := range dps.Len() {
		got[attributeKey(dps.At(i).Attributes())] = dps.At(i).IntValue()
	}
	if len(got) != len(want) || len(got) != dps.Len() {
		t.Errorf("%s points = %v, want %v", name, got, want)
		return
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s points = %v, want %v", name, got, want)
			return
		}
	}
}

func attributeKey(m pcommon.Map) string {
	keys := make([]string, 0, m.Len())
	for k := range m.All() {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var s string
	for i, k := range keys {
		v, _ := m.Get(k)
		if i > 0 {
			s += ","
		}
		s += k + "=" + v.AsString()
	}
	return s
}
