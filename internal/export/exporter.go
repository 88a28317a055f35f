package export

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otel-sensor/otel-sensor/internal/probes"
)

// Exporter delivers logs and metrics somewhere. Implementations are safe for
// concurrent use and honour ctx while they wait. Shutdown flushes what the
// exporter holds and releases what it opened; it is idempotent, and exports
// after it fail with ErrShutdown.
//
// ExportLogs must not keep ld, or anything in it, after it returns — the
// rule the Collector's own consumers follow: the Pipeline reuses the
// records of a batch for the next one. An exporter that needs the data
// later copies it (CopyTo) or encodes it before returning, as the OTLP
// exporters and their persistent queue do. (One that marks ld read-only
// is taken to share it, and the Pipeline lets it go.)
type Exporter interface {
	ExportLogs(ctx context.Context, ld plog.Logs) error
	ExportMetrics(ctx context.Context, md pmetric.Metrics) error
	Shutdown(ctx context.Context) error
}

// ErrShutdown is returned by an export after Shutdown.
var ErrShutdown = errors.New("exporter is shut down")

// JSONLines writes OTLP JSON, one object per line: an
// ExportLogsServiceRequest or ExportMetricsServiceRequest exactly as pdata's
// JSON marshalers produce it, followed by "\n" — the format the Collector's
// otlpjsonfile receiver reads. Output is buffered and flushed at the end of
// every export call.
//
// Logs are encoded by appendLogsJSON, which writes the same bytes as
// pdata's marshaler for logs built with plog's API, several times faster
// and into a buffer reused from one export to the next; metrics, and logs
// it declines, by pdata's marshalers.
type JSONLines struct {
	// lock is a one-slot semaphore guarding w, line and closed; unlike a
	// mutex, waiting for it can be abandoned when ctx ends.
	lock   chan struct{}
	w      *bufio.Writer
	line   []byte   // the logs line being written, reused
	file   *os.File // closed at Shutdown; nil when the writer is not ours
	closed bool
}

// maxKeptLine is the largest line buffer kept for the next export; a
// larger one (an unusually large batch) is let go.
const maxKeptLine = 8 << 20

var _ Exporter = (*JSONLines)(nil)

// NewJSONLines writes to w (stdout, for instance). Shutdown flushes w but
// does not close it.
func NewJSONLines(w io.Writer) *JSONLines {
	return &JSONLines{
		lock: make(chan struct{}, 1),
		w:    bufio.NewWriterSize(w, 64<<10),
	}
}

// OpenJSONLines appends to the file at path, creating it with mode 0600.
// Shutdown closes it.
func OpenJSONLines(path string) (*JSONLines, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open output file: %w", err)
	}
	j := NewJSONLines(f)
	j.file = f
	return j, nil
}

// ExportLogs writes ld as one line. Empty logs write nothing.
func (j *JSONLines) ExportLogs(ctx context.Context, ld plog.Logs) error {
	if ld.LogRecordCount() == 0 {
		return nil
	}
	if err := j.acquire(ctx); err != nil {
		return err
	}
	defer j.release()
	if j.closed {
		return ErrShutdown
	}
	line, ok := appendLogsJSON(j.line[:0], ld)
	if cap(line) <= maxKeptLine {
		j.line = line
	} else {
		j.line = nil
	}
	if !ok {
		var m plog.JSONMarshaler
		b, err := m.MarshalLogs(ld)
		if err != nil {
			return fmt.Errorf("marshal logs: %w", err)
		}
		line = b
	}
	return j.writeLocked(line)
}

// ExportMetrics writes md as one line. Empty metrics write nothing.
func (j *JSONLines) ExportMetrics(ctx context.Context, md pmetric.Metrics) error {
	if md.MetricCount() == 0 {
		return nil
	}
	var m pmetric.JSONMarshaler
	b, err := m.MarshalMetrics(md)
	if err != nil {
		return fmt.Errorf("marshal metrics: %w", err)
	}
	return j.writeLine(ctx, b)
}

func (j *JSONLines) writeLine(ctx context.Context, b []byte) error {
	if err := j.acquire(ctx); err != nil {
		return err
	}
	defer j.release()
	if j.closed {
		return ErrShutdown
	}
	return j.writeLocked(b)
}

// writeLocked writes b and a newline, and flushes; j.lock is held.
func (j *JSONLines) writeLocked(b []byte) error {
	if _, err := j.w.Write(b); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err := j.w.WriteByte('\n'); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err := j.w.Flush(); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}

// Shutdown flushes and closes the file OpenJSONLines opened.
func (j *JSONLines) Shutdown(ctx context.Context) error {
	if err := j.acquire(ctx); err != nil {
		return err
	}
	defer j.release()
	if j.closed {
		return nil
	}
	j.closed = true
	err := j.w.Flush()
	if err != nil {
		err = fmt.Errorf("flush: %w", err)
	}
	if j.file != nil {
		if cerr := j.file.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close output file: %w", cerr))
		}
	}
	return err
}

func (j *JSONLines) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case j.lock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (j *JSONLines) release() { <-j.lock }

// DropCounter is implemented by an Exporter that can lose events after an
// export returned nil — an OTLP receiver's partial success. Drops returns
// those losses, cumulative; the Pipeline adds them to
// sensor.events.dropped. Losses an export reports as an error are the
// Pipeline's to count, never the exporter's.
type DropCounter interface {
	Drops() []probes.Drop
}

// QueueReporter is implemented by an Exporter with a queue of its own —
// the OTLP exporter's persistent queue. QueueBytes returns the bytes the
// queue holds and its capacity; ok is false when it has none.
type QueueReporter interface {
	QueueBytes() (size, capacity int64, ok bool)
}

// RetryReporter is implemented by an Exporter that retries failed exports
// (the OTLP exporter): Retrying returns the error of the last failed
// attempt that was to be retried and when it failed, while nothing shows
// the data got through since; "" otherwise.
type RetryReporter interface {
	Retrying() (msg string, at time.Time)
}

// Flusher is implemented by an Exporter whose exports can return before
// the data is delivered — the OTLP exporter with its persistent queue.
// Flush waits, within ctx, until what it accepted is delivered, or cannot
// be now (it then stays queued). The Pipeline calls it at shutdown before
// its last metrics, so that they count what the flush lost.
type Flusher interface {
	Flush(ctx context.Context)
}

// Split sends logs to one Exporter and metrics to another (OTLP for the
// events, the console for the metrics, say). A nil side is not exported:
// its exports succeed and send nothing. Shutdown shuts both down, once
// each when they are the same.
type Split struct {
	Logs, Metrics Exporter
}

var (
	_ Exporter      = Split{}
	_ RetryReporter = Split{}
	_ DropCounter   = Split{}
	_ QueueReporter = Split{}
	_ Flusher       = Split{}
)

// ExportLogs exports ld to s.Logs.
func (s Split) ExportLogs(ctx context.Context, ld plog.Logs) error {
	if s.Logs == nil {
		return nil
	}
	return s.Logs.ExportLogs(ctx, ld)
}

// ExportMetrics exports md to s.Metrics.
func (s Split) ExportMetrics(ctx context.Context, md pmetric.Metrics) error {
	if s.Metrics == nil {
		return nil
	}
	return s.Metrics.ExportMetrics(ctx, md)
}

// Drops returns the drops of the logs side, which carries the events.
func (s Split) Drops() []probes.Drop {
	if dc, ok := s.Logs.(DropCounter); ok {
		return dc.Drops()
	}
	return nil
}

// Retrying returns the later of the two sides' retry errors.
func (s Split) Retrying() (string, time.Time) {
	var msg string
	var at time.Time
	for _, e := range []Exporter{s.Logs, s.Metrics} {
		if rr, ok := e.(RetryReporter); ok {
			if m, t := rr.Retrying(); m != "" && t.After(at) {
				msg, at = m, t
			}
		}
	}
	return msg, at
}

// QueueBytes reports the queue of the logs side, which carries the events.
func (s Split) QueueBytes() (size, capacity int64, ok bool) {
	if qr, ok := s.Logs.(QueueReporter); ok {
		return qr.QueueBytes()
	}
	return 0, 0, false
}

// Flush flushes both sides, once each when they are the same.
func (s Split) Flush(ctx context.Context) {
	if f, ok := s.Logs.(Flusher); ok {
		f.Flush(ctx)
	}
	if f, ok := s.Metrics.(Flusher); ok && s.Metrics != s.Logs {
		f.Flush(ctx)
	}
}

// Shutdown shuts both sides down.
func (s Split) Shutdown(ctx context.Context) error {
	var errs []error
	if s.Logs != nil {
		errs = append(errs, s.Logs.Shutdown(ctx))
	}
	if s.Metrics != nil && s.Metrics != s.Logs {
		errs = append(errs, s.Metrics.Shutdown(ctx))
	}
	return errors.Join(errs...)
}
