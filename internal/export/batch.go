package export

import (
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otel-sensor/otel-sensor/internal/event"
)

// recordFixed bounds the size of a record's fields besides its attributes
// and event name: both timestamps (fixed64, counted whether set or not),
// the severity number and text, and the empty body, trace id and span id
// (pdata writes their empty fields).
const recordFixed = 2*(1+8) + 2 + (1 + 1 + len(severityText)) + 3*2

// logsBatch is one batch of log records being built: a plog.Logs with one
// ResourceLogs and one ScopeLogs, the kinds of its events (to count them
// if the export fails) and an upper bound of its size in OTLP protobuf.
//
// A logsBatch is reused: reset keeps the records, their attribute maps and
// the values in them, and the next batch's records overwrite them in place
// (attrList.writeTo), so that a steady stream of similar events is mapped
// without allocating. The plog.Logs it hands out is therefore valid only
// until the next reset: an Exporter must not keep it (see Exporter).
type logsBatch struct {
	ld      plog.Logs
	res     *Resource // the resource ld carries; nil before the first
	records plog.LogRecordSlice
	n       int          // records in this batch; records.Len() may be more
	resSize int          // upper bound of the protobuf size of all but the records
	recSize int          // upper bound of the protobuf size of the n records
	kinds   []event.Kind // of the n records
}

func newLogsBatch() *logsBatch {
	ld := plog.NewLogs()
	sl := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
	sl.Scope().SetName(ScopeName)
	return &logsBatch{ld: ld, records: sl.LogRecords()}
}

// setResource makes the batch carry res (a pointer compare: a Resource is
// read-only once built, and the Pipeline replaces it, never changes it).
func (b *logsBatch) setResource(res *Resource) {
	if b.res == res {
		return
	}
	b.res = res
	// The request's resource_logs field holds the resource, and the
	// scope_logs field the scope and the records: their frames are
	// counted at the largest (5-byte lengths).
	resource := 0
	for _, a := range res.Attributes {
		v := a.Value
		if !utf8.ValidString(v) {
			v = validUTF8(v) // as copyTo writes it
		}
		resource += keyValueSize(a.Key, fieldSize(len(v)))
	}
	scope := fieldSize(len(ScopeName)) + fieldSize(len(res.Version))
	b.resSize = 3*(1+5) + fieldSize(resource) + fieldSize(scope)
	rl := b.ld.ResourceLogs().At(0)
	rl.Resource().Attributes().Clear()
	res.copyTo(rl.Resource())
	rl.ScopeLogs().At(0).Scope().SetVersion(res.Version)
}

// reset empties the batch, keeping what it can reuse.
func (b *logsBatch) reset() {
	b.n = 0
	b.recSize = 0
	b.kinds = b.kinds[:0]
}

func (b *logsBatch) len() int { return b.n }

// size is an upper bound of the batch's size in OTLP protobuf.
func (b *logsBatch) size() int { return b.resSize + b.recSize }

// recordSize is an upper bound of the protobuf size of the record of ev
// with the attributes l, as an entry of the scope's log_records field.
func recordSize(ev *event.Event, l *attrList) int {
	return fieldSize(recordFixed + fieldSize(len(ev.Kind.Name())) + l.protoSize())
}

// add appends a record for ev with the attributes l, of size bound size
// (recordSize), reusing a record of a previous batch when there is one.
func (b *logsBatch) add(ev *event.Event, l *attrList, size int) {
	var lr plog.LogRecord
	if b.n < b.records.Len() {
		lr = b.records.At(b.n)
	} else {
		lr = b.records.AppendEmpty()
	}
	writeRecord(lr, ev, l)
	b.n++
	b.recSize += size
	b.kinds = append(b.kinds, ev.Kind)
}

// finish returns the batch's logs: the records of a previous, larger batch
// beyond this one's are removed.
func (b *logsBatch) finish() plog.Logs {
	if extra := b.records.Len() - b.n; extra > 0 {
		i := 0
		b.records.RemoveIf(func(plog.LogRecord) bool {
			i++
			return i > b.n
		})
	}
	return b.ld
}
