package export

import (
	"encoding/base64"
	"encoding/hex"
	"math/bits"
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// appendLogsJSON appends ld in OTLP JSON to buf, byte for byte as
// plog.JSONMarshaler writes it (pdata's generated MarshalJSON methods over
// json-iterator's ConfigFastest stream: fields in proto order, empty and
// zero fields left out, 64-bit integers as quoted decimals, bytes in
// base64, strings escaped as json-iterator escapes them), at a fraction of
// the cost: no per-field calls through a stream, no copy of the result.
//
// It writes what plog's API can reach. ok is false when ld holds a value
// it does not write itself (a double, whose formatting it leaves to
// json-iterator); the caller then uses plog.JSONMarshaler. The fields
// plog's API cannot set (resource entity refs, deprecated scope logs,
// string-table indexes: they come only from decoding OTLP) are not
// written: use it for logs built with plog's API, as the Pipeline's are.
// TestLogsJSONMatchesPdata and FuzzLogsJSON hold it to pdata's output.
func appendLogsJSON(buf []byte, ld plog.Logs) (_ []byte, ok bool) {
	w := jsonWriter{buf: buf, ok: true}
	w.logs(ld)
	return w.buf, w.ok
}

// jsonWriter appends OTLP JSON to buf; ok turns false at a value it does
// not write.
type jsonWriter struct {
	buf []byte
	ok  bool
}

func (w *jsonWriter) raw(s string) { w.buf = append(w.buf, s...) }

// field writes a field name: a comma first unless it is the object's
// first.
func (w *jsonWriter) field(name string, first bool) {
	if !first {
		w.buf = append(w.buf, ',')
	}
	w.buf = append(w.buf, '"')
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, '"', ':')
}

// str writes s as a JSON string (appendStr).
func (w *jsonWriter) str(s string) { w.buf = appendStr(w.buf, s) }

// appendStr appends s as a JSON string as json-iterator's Stream.WriteString
// does with EscapeHTML off: '"' and '\\' escaped, \n, \r and \t as such,
// the other bytes below 0x20 as \u00XX; every other byte, whether or not
// part of valid UTF-8, as it is. The runs between escapes are appended
// whole: most strings are one run.
func appendStr(buf []byte, s string) []byte {
	buf = append(buf, '"')
	for {
		n := plainLen(s)
		buf = append(buf, s[:n]...)
		if n == len(s) {
			return append(buf, '"')
		}
		switch c := s[n]; c {
		case '"', '\\':
			buf = append(buf, '\\', c)
		case '\n':
			buf = append(buf, '\\', 'n')
		case '\r':
			buf = append(buf, '\\', 'r')
		case '\t':
			buf = append(buf, '\\', 't')
		default:
			const hexDigits = "0123456789abcdef"
			buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		s = s[n+1:]
	}
}

// plainLen is the length of the run of bytes at the start of s that need
// no escaping, found eight bytes at a time.
func plainLen(s string) int {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if m := escapeMask8(load8(s[i : i+8])); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	if i == len(s) {
		return i
	}
	if len(s) >= 8 {
		// The tail: the last eight bytes, of which those before i are
		// known to need no escaping.
		if m := escapeMask8(load8(s[len(s)-8:])); m != 0 {
			return len(s) - 8 + bits.TrailingZeros64(m)/8
		}
		return len(s)
	}
	for ; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' {
			break
		}
	}
	return i
}

// load8 reads the eight bytes of w (len(w) == 8) as a little-endian
// uint64: one load.
func load8(w string) uint64 {
	_ = w[7] // one bounds check for the eight reads
	return uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
		uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
}

// escapeMask8 has the high bit of byte i set when byte i of x (eight bytes
// of a string, little-endian) is below 0x20, '"' or '\\', and is 0 when
// none is (SWAR: a byte of x - 0x01.. has its high bit set where the byte
// of x was zero; bytes ≥ 0x80 are excluded by ^x). A borrow may set bits
// above the first byte that needs escaping, never below it: the lowest set
// bit is exact.
func escapeMask8(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	below := (x - 0x20*ones) & ^x
	quote := x ^ '"'*ones
	backslash := x ^ '\\'*ones
	return (below | ((quote - ones) &^ quote) | ((backslash - ones) &^ backslash)) & highs
}

// quotedUint writes v as a quoted decimal (proto JSON's 64-bit integers).
func (w *jsonWriter) quotedUint(v uint64) {
	w.buf = append(w.buf, '"')
	w.buf = strconv.AppendUint(w.buf, v, 10)
	w.buf = append(w.buf, '"')
}

func (w *jsonWriter) logs(ld plog.Logs) {
	w.raw("{")
	if rls := ld.ResourceLogs(); rls.Len() > 0 {
		w.field("resourceLogs", true)
		w.raw("[")
		for i := range rls.Len() {
			if i > 0 {
				w.raw(",")
			}
			w.resourceLogs(rls.At(i))
		}
		w.raw("]")
	}
	w.raw("}")
}

func (w *jsonWriter) resourceLogs(rl plog.ResourceLogs) {
	w.raw(`{"resource":`)
	w.resource(rl.Resource())
	if sls := rl.ScopeLogs(); sls.Len() > 0 {
		w.field("scopeLogs", false)
		w.raw("[")
		for i := range sls.Len() {
			if i > 0 {
				w.raw(",")
			}
			w.scopeLogs(sls.At(i))
		}
		w.raw("]")
	}
	if u := rl.SchemaUrl(); u != "" {
		w.field("schemaUrl", false)
		w.str(u)
	}
	w.raw("}")
}

func (w *jsonWriter) resource(r pcommon.Resource) {
	w.raw("{")
	first := w.attributes(r.Attributes(), true)
	if n := r.DroppedAttributesCount(); n != 0 {
		w.field("droppedAttributesCount", first)
		w.buf = strconv.AppendUint(w.buf, uint64(n), 10)
	}
	w.raw("}")
}

func (w *jsonWriter) scopeLogs(sl plog.ScopeLogs) {
	w.raw(`{"scope":`)
	w.scope(sl.Scope())
	if lrs := sl.LogRecords(); lrs.Len() > 0 {
		w.field("logRecords", false)
		w.raw("[")
		for i := range lrs.Len() {
			if i > 0 {
				w.raw(",")
			}
			w.logRecord(lrs.At(i))
		}
		w.raw("]")
	}
	if u := sl.SchemaUrl(); u != "" {
		w.field("schemaUrl", false)
		w.str(u)
	}
	w.raw("}")
}

func (w *jsonWriter) scope(s pcommon.InstrumentationScope) {
	w.raw("{")
	first := true
	if n := s.Name(); n != "" {
		w.field("name", first)
		w.str(n)
		first = false
	}
	if v := s.Version(); v != "" {
		w.field("version", first)
		w.str(v)
		first = false
	}
	first = w.attributes(s.Attributes(), first)
	if n := s.DroppedAttributesCount(); n != 0 {
		w.field("droppedAttributesCount", first)
		w.buf = strconv.AppendUint(w.buf, uint64(n), 10)
	}
	w.raw("}")
}

func (w *jsonWriter) logRecord(lr plog.LogRecord) {
	w.raw("{")
	first := true
	if t := lr.Timestamp(); t != 0 {
		w.field("timeUnixNano", first)
		w.quotedUint(uint64(t))
		first = false
	}
	if t := lr.ObservedTimestamp(); t != 0 {
		w.field("observedTimeUnixNano", first)
		w.quotedUint(uint64(t))
		first = false
	}
	if n := lr.SeverityNumber(); n != 0 {
		w.field("severityNumber", first)
		w.buf = strconv.AppendInt(w.buf, int64(n), 10)
		first = false
	}
	if s := lr.SeverityText(); s != "" {
		w.field("severityText", first)
		w.str(s)
		first = false
	}
	w.field("body", first)
	w.value(lr.Body())
	w.attributes(lr.Attributes(), false)
	if n := lr.DroppedAttributesCount(); n != 0 {
		w.field("droppedAttributesCount", false)
		w.buf = strconv.AppendUint(w.buf, uint64(n), 10)
	}
	if f := lr.Flags(); f != 0 {
		w.field("flags", false)
		w.buf = strconv.AppendUint(w.buf, uint64(f), 10)
	}
	if id := lr.TraceID(); !id.IsEmpty() {
		w.field("traceId", false)
		w.raw(`"`)
		w.buf = hex.AppendEncode(w.buf, id[:])
		w.raw(`"`)
	}
	if id := lr.SpanID(); !id.IsEmpty() {
		w.field("spanId", false)
		w.raw(`"`)
		w.buf = hex.AppendEncode(w.buf, id[:])
		w.raw(`"`)
	}
	if n := lr.EventName(); n != "" {
		w.field("eventName", false)
		w.str(n)
	}
	w.raw("}")
}

// attributes writes the "attributes" field when m is not empty and
// reports whether the object still has no field.
func (w *jsonWriter) attributes(m pcommon.Map, first bool) bool {
	if m.Len() == 0 {
		return first
	}
	w.field("attributes", first)
	w.keyValues(m)
	return false
}

// keyValues writes m as an array of KeyValue objects.
func (w *jsonWriter) keyValues(m pcommon.Map) { w.buf = w.appendKeyValues(w.buf, m) }

// appendKeyValues appends m as an array of KeyValue objects. It and
// appendValue, the bulk of the work, pass the buffer along rather than
// through w, which keeps it in registers.
func (w *jsonWriter) appendKeyValues(buf []byte, m pcommon.Map) []byte {
	buf = append(buf, '[')
	sep := false
	for k, v := range m.All() {
		if sep {
			buf = append(buf, ',')
		}
		sep = true
		if k != "" {
			buf = append(buf, `{"key":`...)
			buf = appendStr(buf, k)
			buf = append(buf, `,"value":`...)
		} else {
			buf = append(buf, `{"value":`...)
		}
		buf = w.appendValue(buf, v)
		buf = append(buf, '}')
	}
	return append(buf, ']')
}

// value writes an AnyValue object.
func (w *jsonWriter) value(v pcommon.Value) { w.buf = w.appendValue(w.buf, v) }

// appendValue appends an AnyValue object.
func (w *jsonWriter) appendValue(buf []byte, v pcommon.Value) []byte {
	switch v.Type() {
	case pcommon.ValueTypeEmpty:
		buf = append(buf, "{}"...)
	case pcommon.ValueTypeStr:
		buf = append(buf, `{"stringValue":`...)
		buf = appendStr(buf, v.Str())
		buf = append(buf, '}')
	case pcommon.ValueTypeInt:
		buf = append(buf, `{"intValue":"`...)
		buf = strconv.AppendInt(buf, v.Int(), 10)
		buf = append(buf, `"}`...)
	case pcommon.ValueTypeBool:
		if v.Bool() {
			buf = append(buf, `{"boolValue":true}`...)
		} else {
			buf = append(buf, `{"boolValue":false}`...)
		}
	case pcommon.ValueTypeBytes:
		buf = append(buf, `{"bytesValue":"`...)
		buf = base64.StdEncoding.AppendEncode(buf, v.Bytes().AsRaw())
		buf = append(buf, `"}`...)
	case pcommon.ValueTypeSlice:
		buf = append(buf, `{"arrayValue":{`...)
		if s := v.Slice(); s.Len() > 0 {
			buf = append(buf, `"values":[`...)
			for i := range s.Len() {
				if i > 0 {
					buf = append(buf, ',')
				}
				buf = w.appendValue(buf, s.At(i))
			}
			buf = append(buf, ']')
		}
		buf = append(buf, "}}"...)
	case pcommon.ValueTypeMap:
		buf = append(buf, `{"kvlistValue":{`...)
		if m := v.Map(); m.Len() > 0 {
			buf = append(buf, `"values":`...)
			buf = w.appendKeyValues(buf, m)
		}
		buf = append(buf, "}}"...)
	default:
		// A double: json-iterator's float formatting is not ours to copy.
		w.ok = false
		buf = append(buf, "{}"...)
	}
	return buf
}
