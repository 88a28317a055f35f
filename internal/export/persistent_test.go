package export

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"google.golang.org/grpc/codes"

	"github.com/otel-sensor/otel-sensor/internal/event"
	"github.com/otel-sensor/otel-sensor/internal/export/otlptest"
	"github.com/otel-sensor/otel-sensor/internal/probes"
)

// down is where a collector will be: two loopback addresses nothing
// listens on until the test starts a receiver there.
type down struct{ grpcAddr, httpAddr string }

func collectorDown(t *testing.T) down {
	return down{otlptest.FreeAddr(t), otlptest.FreeAddr(t)}
}

func (d down) start(t *testing.T) *otlptest.Receiver {
	t.Helper()
	return otlptest.Start(t, otlptest.Options{GRPCAddr: d.grpcAddr, HTTPAddr: d.httpAddr})
}

func (d down) config(protocol, signal string, retry RetryConfig) *OTLPConfig {
	c := &OTLPConfig{Protocol: protocol, Retry: retry}
	if protocol == ProtocolGRPC {
		c.Endpoint = "http://" + d.grpcAddr
	} else {
		c.Endpoint = "http://" + d.httpAddr + "/v1/" + signal
	}
	return c
}

// waitRetry is a retry that waits for the collector as long as needed,
// briefly between attempts.
var waitRetry = RetryConfig{InitialInterval: 20 * time.Millisecond, MaxInterval: 200 * time.Millisecond, MaxElapsedTime: -1}

// messages records the messages logged through its Logger.
type messages struct {
	mu   sync.Mutex
	msgs []string
}

func (m *messages) logger() *slog.Logger {
	return slog.New(handlerFunc(func(r slog.Record) {
		m.mu.Lock()
		m.msgs = append(m.msgs, r.Message)
		m.mu.Unlock()
	}))
}

func (m *messages) count(substr string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, s := range m.msgs {
		if strings.Contains(s, substr) {
			n++
		}
	}
	return n
}

// newPersistentOTLP starts an OTLP exporter of both signals to d with a
// persistent queue in dir.
func newPersistentOTLP(t *testing.T, d down, protocol, dir string, maxBytes int64, retry RetryConfig, log *slog.Logger) *OTLP {
	t.Helper()
	o, err := NewOTLP(context.Background(), OTLPOptions{
		Logs:            d.config(protocol, "logs", retry),
		Metrics:         d.config(protocol, "metrics", retry),
		Logger:          log,
		PersistentQueue: &PersistentQueueConfig{Directory: dir, MaxBytes: maxBytes},
	})
	if err != nil {
		t.Fatalf("NewOTLP: %v", err)
	}
	t.Cleanup(func() { o.Shutdown(context.Background()) })
	return o
}

// firstPID starts a range of pids whose varints all take 3 bytes, so
// every record, and every batch of as many records, has the same size in
// protobuf.
const firstPID = 1 << 14

func forkEvents(first, n int) []*event.Event {
	evs := make([]*event.Event, n)
	for i := range evs {
		evs[i] = newEvent(event.KindFork, uint32(first+i))
	}
	return evs
}

// pidCounts counts the records r received by process.pid.
func pidCounts(r *otlptest.Receiver) map[int64]int {
	seen := map[int64]int{}
	recs, _ := r.Records()
	for _, lr := range recs {
		v, _ := lr.Attributes().Get("process.pid")
		seen[v.Int()]++
	}
	return seen
}

// sentEvents is the largest sensor.events total among the metrics r
// received.
func sentEvents(r *otlptest.Receiver) int64 {
	var best int64
	for _, md := range r.Metrics.AllMetrics() {
		for i := range md.ResourceMetrics().Len() {
			sms := md.ResourceMetrics().At(i).ScopeMetrics()
			for j := range sms.Len() {
				ms := sms.At(j).Metrics()
				for k := range ms.Len() {
					if ms.At(k).Name() != MetricEvents {
						continue
					}
					var sum int64
					dps := ms.At(k).Sum().DataPoints()
					for l := range dps.Len() {
						sum += dps.At(l).IntValue()
					}
					best = max(best, sum)
				}
			}
		}
	}
	return best
}

// The collector is down while the sensor runs and stops; the batches wait
// on disk. A new exporter on the same directory — the sensor restarted —
// delivers them when the collector returns: every event once, the first
// run's last metrics too, and nothing counted as dropped. When the bound
// is hit, the batches that do not fit are dropped and counted exactly.
func TestPersistentQueueRestartAndBound(t *testing.T) {
	const batch = 200
	batchBytes := int64((&plog.ProtoMarshaler{}).LogsSize(NewLogs(testResource, forkEvents(firstPID, batch))))
	logsCap, _ := PersistentQueueConfig{MaxBytes: 1 << 20}.capacities()
	fit := int(logsCap / batchBytes)
	t.Logf("a batch of %d records is %d bytes; %d batches fit in %d bytes", batch, batchBytes, fit, logsCap)
	for _, tc := range []struct {
		name     string
		protocol string
		maxBytes int64
		batches  int // of the first run
		want     int // batches delivered
	}{
		{"grpc", ProtocolGRPC, 64 << 20, 10, 10},
		{"http", ProtocolHTTPProtobuf, 64 << 20, 10, 10},
		{"grpc bound hit", ProtocolGRPC, 1 << 20, fit + 3, fit},
		{"http bound hit", ProtocolHTTPProtobuf, 1 << 20, fit + 3, fit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "queue")
			d := collectorDown(t)
			var msgs messages

			// First run: the collector is away the whole time.
			first := newPersistentOTLP(t, d, tc.protocol, dir, tc.maxBytes, waitRetry, msgs.logger())
			p := NewPipeline(testResource, first, PipelineConfig{QueueSize: 1 << 20, MaxBatch: batch, FlushInterval: time.Hour, MetricsInterval: time.Hour})
			if err := p.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			events := tc.batches * batch
			for _, ev := range forkEvents(firstPID, events) {
				p.Handle(ev)
			}
			// Every batch is either on disk or dropped.
			otlptest.Eventually(t, 10*time.Second, func() bool {
				st := p.Status()
				return st.Queued == 0 && st.PersistentQueued/batchBytes+int64(st.DroppedTotal/batch) == int64(tc.batches)
			}, "the batches did not all reach the persistent queue")
			st := p.Status()
			if st.PersistentQueued != int64(tc.want)*batchBytes || st.PersistentCapacity != tc.maxBytes-tc.maxBytes/16 {
				t.Errorf("persistent queue holds %d of %d bytes, want %d of %d", st.PersistentQueued, st.PersistentCapacity, int64(tc.want)*batchBytes, tc.maxBytes-tc.maxBytes/16)
			}
			shutdown(t, p)
			st = p.Status()
			if wantDropped := uint64((tc.batches - tc.want) * batch); st.EventsTotal != uint64(events) || st.DroppedTotal != wantDropped {
				t.Errorf("first run: status %+v, want %d events and %d dropped", st, events, wantDropped)
			}
			if tc.batches > tc.want {
				if n := msgs.count("persistent queue full"); n != 1 {
					t.Errorf("logged %d times that the queue is full, want once", n)
				}
				if n := msgs.count("Rejecting data"); n != 0 {
					t.Errorf("logged %d refused batches, want them counted, not logged", n)
				}
			}
			if info, err := os.Stat(filepath.Join(dir, "exporter_otel_sensor_queue_logs")); err != nil || info.Size() == 0 {
				t.Fatalf("no queue file for the logs: %v", err)
			}

			// Second run, same directory: the collector returns a moment
			// after it started.
			second := newPersistentOTLP(t, d, tc.protocol, dir, tc.maxBytes, waitRetry, nil)
			r := d.start(t)
			wantRecords := tc.want * batch
			otlptest.Eventually(t, 30*time.Second, func() bool { return r.Logs.LogRecordCount() >= wantRecords }, "the queued records did not arrive")
			otlptest.Eventually(t, 10*time.Second, func() bool {
				size, _, _ := second.QueueBytes()
				return size == 0
			}, "the queue did not empty")
			otlptest.Eventually(t, 10*time.Second, func() bool { return sentEvents(r) == int64(events) },
				"the first run's last metrics did not arrive")
			if err := second.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			if n := r.Logs.LogRecordCount(); n != wantRecords {
				t.Errorf("received %d records, want %d", n, wantRecords)
			}
			seen := pidCounts(r)
			for pid := int64(firstPID); pid < int64(firstPID+wantRecords); pid++ {
				if seen[pid] != 1 {
					t.Fatalf("pid %d arrived %d times, want once", pid, seen[pid])
				}
			}
			if d := second.Drops(); len(d) != 0 {
				t.Errorf("second run drops = %v, want none", d)
			}
			// The first run's last metrics, kept on disk and sent by the
			// second, count the batches the full queue refused.
			all := r.Metrics.AllMetrics()
			if len(all) != 1 {
				t.Fatalf("received %d metrics requests, want the first run's last one", len(all))
			}
			checkPoints(t, all[0], MetricEvents, map[string]int64{"event.name=process.fork": int64(events)})
			if tc.batches > tc.want {
				checkPoints(t, all[0], MetricEventsDropped, map[string]int64{
					"event.name=process.fork,reason=persistent_queue_full,stage=queue": int64((tc.batches - tc.want) * batch),
				})
			}
		})
	}
}

// Batches the queue's consumers give up on are reported by Drops, without
// an event name: after the retries ran out (export_failed) or when the
// receiver refused them (rejected). Interrupted retries are not.
func TestPersistentQueueGiveUpCounted(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T) *OTLPConfig
		want  []probes.Drop
	}{
		{
			name: "retries run out",
			setup: func(t *testing.T) *OTLPConfig {
				return collectorDown(t).config(ProtocolGRPC, "logs", RetryConfig{InitialInterval: 10 * time.Millisecond, MaxElapsedTime: 100 * time.Millisecond})
			},
			want: []probes.Drop{{Stage: "export", Reason: "export_failed", Count: 30}},
		},
		{
			name: "INVALID_ARGUMENT",
			setup: func(t *testing.T) *OTLPConfig {
				_, c := startGRPCScript(t, grpcErr(codes.InvalidArgument, 0))
				return c
			},
			want: []probes.Drop{{Stage: "export", Reason: "rejected", Count: 30}},
		},
		{
			name: "HTTP 400",
			setup: func(t *testing.T) *OTLPConfig {
				_, c := startHTTPScript(t, statusCode(http.StatusBadRequest))
				return c
			},
			want: []probes.Drop{{Stage: "export", Reason: "rejected", Count: 30}},
		},
		{
			name: "delivered",
			setup: func(t *testing.T) *OTLPConfig {
				_, c := startGRPCScript(t, grpcOK)
				return c
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := NewOTLP(context.Background(), OTLPOptions{
				Logs:            tc.setup(t),
				PersistentQueue: &PersistentQueueConfig{Directory: t.TempDir(), MaxBytes: 1 << 20},
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { o.Shutdown(context.Background()) })
			for i := range 3 {
				if err := o.ExportLogs(context.Background(), NewLogs(testResource, forkEvents(firstPID+10*i, 10))); err != nil {
					t.Fatalf("export %d: %v", i, err)
				}
			}
			otlptest.Eventually(t, 10*time.Second, func() bool {
				size, _, _ := o.QueueBytes()
				return size == 0
			}, "the queue did not empty")
			if got := o.Drops(); !slices.Equal(got, tc.want) {
				t.Errorf("drops = %v, want %v", got, tc.want)
			}
			if err := o.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := o.Drops(); !slices.Equal(got, tc.want) {
				t.Errorf("drops after Shutdown = %v, want %v", got, tc.want)
			}
		})
	}
}

// flushRecorder is a fakeExporter that is a Flusher and notes the order
// of the calls it gets.
type flushRecorder struct {
	*fakeExporter
	mu    sync.Mutex
	calls []string
}

func (f *flushRecorder) note(call string) {
	f.mu.Lock()
	f.calls = append(f.calls, call)
	f.mu.Unlock()
}

func (f *flushRecorder) ExportLogs(ctx context.Context, ld plog.Logs) error {
	f.note("logs")
	return f.fakeExporter.ExportLogs(ctx, ld)
}

func (f *flushRecorder) ExportMetrics(ctx context.Context, md pmetric.Metrics) error {
	f.note("metrics")
	return f.fakeExporter.ExportMetrics(ctx, md)
}

func (f *flushRecorder) Flush(context.Context) { f.note("flush") }

func (f *flushRecorder) Shutdown(ctx context.Context) error {
	f.note("shutdown")
	return f.fakeExporter.Shutdown(ctx)
}

// At shutdown the Pipeline flushes a Flusher after the last events and
// before the last metrics, so those count what the flush lost; Split
// passes the flush on, once per exporter.
func TestPipelineFlushesBeforeLastMetrics(t *testing.T) {
	for _, tc := range []struct {
		name  string
		split bool
	}{{"exporter", false}, {"split", true}} {
		t.Run(tc.name, func(t *testing.T) {
			f := &flushRecorder{fakeExporter: newFakeExporter()}
			var exp Exporter = f
			if tc.split {
				exp = Split{Logs: f, Metrics: f}
			}
			p := NewPipeline(testResource, exp, PipelineConfig{MaxBatch: 10, FlushInterval: time.Hour, MetricsInterval: time.Hour})
			if err := p.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			p.Handle(newEvent(event.KindFork, 1))
			shutdown(t, p)
			if want := []string{"logs", "flush", "metrics", "shutdown"}; !slices.Equal(f.calls, want) {
				t.Errorf("calls = %v, want %v", f.calls, want)
			}
		})
	}
}

// A persistent queue's refusals are counted at the queue stage, by event
// name, apart from the export failures.
func TestPipelineCountsPersistentQueueErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"full", fmt.Errorf("%w: %w", ErrPersistentQueueFull, exporterhelper.ErrQueueIsFull), "event.name=process.fork,reason=persistent_queue_full,stage=queue"},
		{"write failed", fmt.Errorf("%w: %w", ErrPersistentQueue, errors.New("no space left on device")), "event.name=process.fork,reason=persistent_queue_error,stage=queue"},
		{"rejected", fmt.Errorf("%w: bad request", ErrRejected), "event.name=process.fork,reason=rejected,stage=export"},
		{"other", errors.New("unavailable"), "event.name=process.fork,reason=export_failed,stage=export"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exp := newFakeExporter()
			exp.logsErr = tc.err
			p := newTestPipeline(t, exp, PipelineConfig{MaxBatch: 3, FlushInterval: time.Hour, MetricsInterval: time.Hour})
			for pid := uint32(1); pid <= 6; pid++ {
				p.Handle(newEvent(event.KindFork, pid))
			}
			shutdown(t, p)
			checkPoints(t, exp.lastMetrics(t), MetricEventsDropped, map[string]int64{tc.want: 6})
			if st := p.Status(); st.EventsTotal != 6 || st.DroppedTotal != 6 {
				t.Errorf("status = %+v", st)
			}
		})
	}
}

// The queue's gauges: the in-memory queue always, the persistent queue
// when the exporter has one.
func TestPipelineQueueMetrics(t *testing.T) {
	o := newPersistentOTLP(t, collectorDown(t), ProtocolGRPC, t.TempDir(), 16<<20, waitRetry, nil)
	metrics := newFakeExporter()
	p := newTestPipeline(t, Split{Logs: o, Metrics: metrics}, PipelineConfig{QueueSize: 100, MaxBatch: 5, FlushInterval: time.Hour, MetricsInterval: time.Hour})
	for _, ev := range forkEvents(firstPID, 5) {
		p.Handle(ev)
	}
	want := int64((&plog.ProtoMarshaler{}).LogsSize(NewLogs(testResource, forkEvents(firstPID, 5))))
	otlptest.Eventually(t, 10*time.Second, func() bool { return p.Status().PersistentQueued == want }, "the batch did not reach the persistent queue")
	md := p.metrics(time.Now())
	checkPoints(t, md, MetricQueueSize, map[string]int64{"": 0})
	checkPoints(t, md, MetricQueueCapacity, map[string]int64{"": 100})
	checkPoints(t, md, MetricPersistentQueueSize, map[string]int64{"": want})
	checkPoints(t, md, MetricPersistentQueueCapacity, map[string]int64{"": 15 << 20})
	if m := findMetric(t, md, MetricPersistentQueueSize); m.Unit() != "By" || m.Sum().IsMonotonic() {
		t.Errorf("%s: unit %q, monotonic %v", m.Name(), m.Unit(), m.Sum().IsMonotonic())
	}

	plain := NewPipeline(testResource, metrics, PipelineConfig{QueueSize: 7})
	md = plain.metrics(time.Now())
	checkPoints(t, md, MetricQueueCapacity, map[string]int64{"": 7})
	ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	for i := range ms.Len() {
		if ms.At(i).Name() == MetricPersistentQueueSize {
			t.Errorf("%s reported without a persistent queue", MetricPersistentQueueSize)
		}
	}
}

// A queue that cannot be opened fails NewOTLP with ErrPersistentQueue:
// the directory is a file, or another sensor holds the queue.
func TestPersistentQueueOpenErrors(t *testing.T) {
	d := collectorDown(t)
	held := t.TempDir()
	newPersistentOTLP(t, d, ProtocolGRPC, held, 1<<20, waitRetry, nil)
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, dir string
	}{
		{"directory is a file", file},
		{"below a file", filepath.Join(file, "queue")},
		{"held by another exporter", held},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := NewOTLP(context.Background(), OTLPOptions{
				Logs:            d.config(ProtocolGRPC, "logs", waitRetry),
				PersistentQueue: &PersistentQueueConfig{Directory: tc.dir, MaxBytes: 1 << 20},
			})
			if err == nil {
				o.Shutdown(context.Background())
				t.Fatal("NewOTLP succeeded")
			}
			if !errors.Is(err, ErrPersistentQueue) {
				t.Errorf("error %v does not wrap ErrPersistentQueue", err)
			}
		})
	}
}

// With the collector away, Shutdown returns within its deadline — the
// drain gives up when the queue stops shrinking — and the batches stay on
// disk. It is idempotent, and exports after it fail with ErrShutdown.
func TestPersistentQueueShutdownBounded(t *testing.T) {
	o := newPersistentOTLP(t, collectorDown(t), ProtocolGRPC, t.TempDir(), 1<<20, RetryConfig{InitialInterval: time.Hour, MaxElapsedTime: -1}, nil)
	if err := o.ExportLogs(context.Background(), testLogs(10)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := o.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > 9*time.Second {
		t.Errorf("Shutdown took %v, want it to stop draining once the queue stalls", d)
	}
	if err := o.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if err := o.ExportLogs(context.Background(), testLogs(1)); !errors.Is(err, ErrShutdown) {
		t.Fatalf("export after Shutdown: %v", err)
	}
	if d := o.Drops(); len(d) != 0 {
		t.Errorf("drops = %v: an interrupted retry is not a loss", d)
	}
}

// BenchmarkOTLPExport measures records per second from ExportLogs to the
// Collector's receiver on loopback over gRPC, with exports synchronous
// ("direct") and through the persistent queue: each op is one batch of
// 512 records (the golden mapping cases over and over: exec, file and
// network events with paths and arguments), timed until the receiver has
// them all.
func BenchmarkOTLPExport(b *testing.B) {
	const batch = 512
	cases := mappingCases()
	evs := make([]*event.Event, batch)
	for i := range evs {
		evs[i] = cases[i%len(cases)].ev
	}
	ld := NewLogs(testResource, evs)
	b.SetBytes(int64((&plog.ProtoMarshaler{}).LogsSize(ld)))
	for _, persistent := range []bool{false, true} {
		name := "direct"
		if persistent {
			name = "persistent"
		}
		b.Run(name, func(b *testing.B) {
			var received sync.WaitGroup
			var mu sync.Mutex
			count := 0
			r := otlptest.Start(b, otlptest.Options{ConsumeLogs: func(ld plog.Logs) {
				mu.Lock()
				count += ld.LogRecordCount()
				mu.Unlock()
				received.Done()
			}})
			opts := OTLPOptions{Logs: &OTLPConfig{Protocol: ProtocolGRPC, Endpoint: r.GRPCEndpoint(), Retry: waitRetry}}
			if persistent {
				opts.PersistentQueue = &PersistentQueueConfig{Directory: b.TempDir(), MaxBytes: 1 << 30}
			}
			o, err := NewOTLP(context.Background(), opts)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { o.Shutdown(context.Background()) })
			b.ResetTimer()
			received.Add(b.N)
			for range b.N {
				if err := o.ExportLogs(context.Background(), ld); err != nil {
					b.Fatal(err)
				}
			}
			received.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
