package health

import (
	"context"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otel-sensor/otel-sensor/internal/export"
	"github.com/otel-sensor/otel-sensor/internal/probes"
)

// ExportTracker is an export.Exporter that passes everything to the one it
// wraps and records when an export last succeeded. It forwards the
// optional interfaces the Pipeline looks for (export.DropCounter,
// export.QueueReporter, export.RetryReporter, export.Flusher), so wrapping
// changes nothing else; an optional interface added to the Pipeline later
// must be forwarded here too.
type ExportTracker struct {
	next        export.Exporter
	lastSuccess atomic.Int64 // Unix nanoseconds; 0 before the first
}

var (
	_ export.Exporter      = (*ExportTracker)(nil)
	_ export.DropCounter   = (*ExportTracker)(nil)
	_ export.QueueReporter = (*ExportTracker)(nil)
	_ export.RetryReporter = (*ExportTracker)(nil)
	_ export.Flusher       = (*ExportTracker)(nil)
)

// TrackExports wraps next.
func TrackExports(next export.Exporter) *ExportTracker {
	return &ExportTracker{next: next}
}

// ExportLogs exports ld through the wrapped exporter.
func (t *ExportTracker) ExportLogs(ctx context.Context, ld plog.Logs) error {
	return t.record(t.next.ExportLogs(ctx, ld))
}

// ExportMetrics exports md through the wrapped exporter.
func (t *ExportTracker) ExportMetrics(ctx context.Context, md pmetric.Metrics) error {
	return t.record(t.next.ExportMetrics(ctx, md))
}

// Shutdown shuts the wrapped exporter down.
func (t *ExportTracker) Shutdown(ctx context.Context) error { return t.next.Shutdown(ctx) }

// Drops returns the wrapped exporter's drops, if it counts any.
func (t *ExportTracker) Drops() []probes.Drop {
	if dc, ok := t.next.(export.DropCounter); ok {
		return dc.Drops()
	}
	return nil
}

// Flush waits for the wrapped exporter's queue to drain, if it has one
// (export.Flusher): the pipeline calls it before its last metrics.
func (t *ExportTracker) Flush(ctx context.Context) {
	if f, ok := t.next.(export.Flusher); ok {
		f.Flush(ctx)
	}
}

// QueueBytes reports the wrapped exporter's queue, if it has one.
func (t *ExportTracker) QueueBytes() (size, capacity int64, ok bool) {
	if qr, ok := t.next.(export.QueueReporter); ok {
		return qr.QueueBytes()
	}
	return 0, 0, false
}

// Retrying returns the wrapped exporter's retry error, if it reports one.
func (t *ExportTracker) Retrying() (string, time.Time) {
	if rr, ok := t.next.(export.RetryReporter); ok {
		return rr.Retrying()
	}
	return "", time.Time{}
}

// LastSuccess returns when an export last succeeded, or nil.
func (t *ExportTracker) LastSuccess() *time.Time {
	ns := t.lastSuccess.Load()
	if ns == 0 {
		return nil
	}
	ts := time.Unix(0, ns).UTC()
	return &ts
}

func (t *ExportTracker) record(err error) error {
	if err == nil {
		t.lastSuccess.Store(time.Now().UnixNano())
	}
	return err
}
