package export

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync/atomic"

	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.uber.org/zap/zapcore"
)

// partialSuccessMessage is what the Collector's otlp and otlphttp exporters
// log, at warn level, when a receiver accepts a request only in part; the
// field droppedLogRecordsField holds the rejected_log_records of the
// response. They report it nowhere else, so this is where it is counted.
// otlp_test.go checks both against a receiver that answers so.
const (
	partialSuccessMessage  = "Partial success response"
	droppedLogRecordsField = "dropped_log_records"
)

// Messages of exporterhelper's sending queue (persistent.go): a batch the
// queue refused ("Rejecting data", with exporterhelper.ErrQueueIsFull
// when it is full), and one its consumer ended with ("Dropping data", also
// when shutdown interrupted the retries and the batch stays on disk).
const (
	// collectorAdvice starts what exporterhelper appends to its failure
	// message: " Try enabling sending_queue ..." and " Try enabling
	// retry_on_failure ...", settings of a Collector's configuration that
	// the sensor's has not (its queue and retries are export.* and otlp.*),
	// so the bridge cuts it.
	collectorAdvice      = " Try enabling "
	retryingMessage      = "Exporting failed. Will retry"
	rejectingDataMessage = "Exporting failed. Rejecting data."
	droppingDataMessage  = "Exporting failed. Dropping data."
	shutdownErrorText    = "interrupted due to shutdown"
)

// zapBridge is the zap core handed to the Collector's exporters: it passes
// their messages at info level and above to a slog.Logger and counts the
// log records refused in partial successes.
type zapBridge struct {
	log          *slog.Logger // nil: messages are discarded
	prefix       string
	fields       []zapcore.Field
	rejectedLogs *atomic.Uint64 // nil: not counted
	// queued: the exporter has a persistent queue. A batch the full queue
	// refused is then not logged (the Pipeline counts it and OTLP logs
	// when the queue fills and empties), and a retry interrupted by
	// shutdown is logged as what it is: the batch stays on disk.
	queued bool
	// retrying, when set, is told the error of every failed attempt that
	// will be retried, prefixed like the log line.
	retrying func(msg string)
}

var _ zapcore.Core = (*zapBridge)(nil)

func (c *zapBridge) Enabled(l zapcore.Level) bool { return l >= zapcore.InfoLevel }

func (c *zapBridge) With(fields []zapcore.Field) zapcore.Core {
	d := *c
	d.fields = append(append([]zapcore.Field(nil), c.fields...), fields...)
	return &d
}

func (c *zapBridge) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *zapBridge) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	if c.rejectedLogs != nil && e.Message == partialSuccessMessage {
		if n, ok := enc.Fields[droppedLogRecordsField].(int64); ok && n > 0 {
			c.rejectedLogs.Add(uint64(n))
		}
	}
	if c.retrying != nil && strings.HasPrefix(e.Message, retryingMessage) {
		if err := fieldError(fields); err != nil {
			c.retrying(c.prefix + err.Error())
		}
	}
	if c.log == nil {
		return nil
	}
	message, _, _ := strings.Cut(e.Message, collectorAdvice)
	if c.queued {
		err := fieldError(fields)
		switch {
		case strings.HasPrefix(message, rejectingDataMessage) && errors.Is(err, exporterhelper.ErrQueueIsFull):
			return nil
		case strings.HasPrefix(message, droppingDataMessage) && err != nil && strings.Contains(err.Error(), shutdownErrorText):
			c.log.LogAttrs(context.Background(), slog.LevelInfo, c.prefix+"export interrupted by shutdown; the batch stays in the persistent queue")
			return nil
		}
	}
	level := slog.LevelInfo
	switch {
	case e.Level >= zapcore.ErrorLevel:
		level = slog.LevelError
	case e.Level == zapcore.WarnLevel:
		level = slog.LevelWarn
	}
	attrs := make([]slog.Attr, 0, len(enc.Fields))
	for _, k := range slices.Sorted(maps.Keys(enc.Fields)) {
		attrs = append(attrs, slog.Any(k, enc.Fields[k]))
	}
	c.log.LogAttrs(context.Background(), level, c.prefix+message, attrs...)
	return nil
}

// fieldError returns the error among fields (zap.Error), or nil.
func fieldError(fields []zapcore.Field) error {
	for _, f := range fields {
		if f.Type == zapcore.ErrorType {
			if err, ok := f.Interface.(error); ok {
				return err
			}
		}
	}
	return nil
}

func (c *zapBridge) Sync() error { return nil }
