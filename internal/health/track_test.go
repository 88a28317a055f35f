package health

import (
	"context"
	"errors"
	"slices"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"

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
