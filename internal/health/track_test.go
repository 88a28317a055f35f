package health

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otel-sensor/otel-sensor/internal/export"
	"github.com/otel-sensor/otel-sensor/internal/export/otlptest"
	"github.com/otel-sensor/otel-sensor/internal/probes"
)

// fakeExporter fails when err is set, and has drops and a queue.
type fakeExporter struct {
	err error
}

func (f *fakeExporter) ExportLogs(context.Context, plog.Logs) error          { return f.err }
func (f *fakeExporter) ExportMetrics(context.Context, pmetric.Metrics) error { return f.err }
func (f *fakeExporter) Shutdown(context.Context) error                       { return nil }
func (f *fakeExporter) Drops() []probes.Drop {
	return []probes.Drop{{Stage: "export", Reason: "rejected", Count: 2}}
}
func (f *fakeExporter) QueueBytes() (int64, int64, bool) { return 10, 100, true }

func TestExportTracker(t *testing.T) {
	fe := &fakeExporter{err: errors.New("down")}
	tr := TrackExports(fe)
	ctx := context.Background()
	if tr.ExportLogs(ctx, plog.NewLogs()) == nil || tr.LastSuccess() != nil {
		t.Fatal("a failed export counted as a success")
	}
	fe.err = nil
	if err := tr.ExportMetrics(ctx, pmetric.NewMetrics()); err != nil {
		t.Fatal(err)
	}
	first := tr.LastSuccess()
	if first == nil {
		t.Fatal("no last success after one")
	}
	fe.err = errors.New("down again")
	tr.ExportLogs(ctx, plog.NewLogs())
	if got := tr.LastSuccess(); got == nil || !got.Equal(*first) {
		t.Errorf("last success moved on a failure: %v, was %v", got, first)
	}

	// What the Pipeline asks of the exporter passes through.
	if d := tr.Drops(); !slices.Equal(d, fe.Drops()) {
		t.Errorf("drops %v", d)
	}
	if s, c, ok := tr.QueueBytes(); s != 10 || c != 100 || !ok {
		t.Errorf("queue %d/%d %v", s, c, ok)
	}
	plain := TrackExports(struct{ plainShim }{})
	if d := plain.Drops(); d != nil {
		t.Errorf("drops of an exporter without: %v", d)
	}
	if _, _, ok := plain.QueueBytes(); ok {
		t.Error("queue of an exporter without one")
	}
}

// plainShim is an Exporter and nothing else.
type plainShim struct{}

func (plainShim) ExportLogs(context.Context, plog.Logs) error          { return nil }
func (plainShim) ExportMetrics(context.Context, pmetric.Metrics) error { return nil }
func (plainShim) Shutdown(context.Context) error                       { return nil }

// The real OTLP exporter, to a collector that is not there yet: while the
// export retries, Retrying reports the failure; once the collector is up
// and the data got through, it reports nothing. With the persistent queue
// the export returns once the batch is on disk and the queue's consumer
// retries; Retrying reports until the queue is empty.
func TestExportTrackerRetrying(t *testing.T) {
	for _, tc := range []struct {
		name, protocol string
		persistent     bool
	}{
		{"grpc", export.ProtocolGRPC, false},
		{"http", export.ProtocolHTTPProtobuf, false},
		{"grpc with the persistent queue", export.ProtocolGRPC, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := otlptest.FreeAddr(t)
			endpoint := "http://" + addr
			if tc.protocol != export.ProtocolGRPC {
				endpoint += "/v1/logs" // a signal's own URL, used as given
			}
			opts := export.OTLPOptions{Logs: &export.OTLPConfig{
				Endpoint: endpoint, Protocol: tc.protocol,
				Retry: export.RetryConfig{InitialInterval: 20 * time.Millisecond, MaxInterval: 100 * time.Millisecond, MaxElapsedTime: -1},
			}}
			if tc.persistent {
				opts.PersistentQueue = &export.PersistentQueueConfig{Directory: t.TempDir(), MaxBytes: 16 << 20}
			}
			o, err := export.NewOTLP(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { o.Shutdown(context.Background()) })
			tr := TrackExports(o)
			ld := plog.NewLogs()
			ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().SetEventName("process.exec")
			done := make(chan error, 1)
			go func() { done <- tr.ExportLogs(context.Background(), ld) }()

			otlptest.Eventually(t, 10*time.Second, func() bool {
				msg, at := tr.Retrying()
				return strings.HasPrefix(msg, "otlp logs exporter: ") && strings.Contains(msg, "connection refused") && !at.IsZero()
			}, "Retrying did not report the refused connection")

			ropts := otlptest.Options{GRPCAddr: addr}
			if tc.protocol != export.ProtocolGRPC {
				ropts = otlptest.Options{HTTPAddr: addr}
			}
			r := otlptest.Start(t, ropts)
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("export: %v", err)
				}
			case <-time.After(60 * time.Second):
				t.Fatal("export still retrying 60 s after the collector came up")
			}
			otlptest.Eventually(t, 60*time.Second, func() bool { return r.Logs.LogRecordCount() == 1 }, "the record did not arrive")
			otlptest.Eventually(t, 10*time.Second, func() bool { msg, _ := tr.Retrying(); return msg == "" },
				"Retrying still reports after the data got through")
		})
	}
}
