package export

import (
	"encoding/base64"
	"encoding/hex"
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

// str writes s as a JSON string as json-iterator's Stream.WriteString does
// with EscapeHTML off: '"' and '\\' escaped, \n, \r and \t as such, the
// other bytes below 0x20 as \u00XX; every other byte, whether or not part
// of valid UTF-8, as it is.
func (w *jsonWriter) str(s string) {
	w.buf = append(w.buf, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		// Eight bytes at a time while none needs escaping: most
		// strings have no such byte at all.
		for i+8 <= len(s) && !needsEscape8(s[i:i+8]) {
			i += 8
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if c > 31 && c != '"' && c != '\\' {
			continue
		}
		w.buf = append(w.buf, s[start:i]...)
		switch c {
		case '"', '\\':
			w.buf = append(w.buf, '\\', c)
		case '\n':
			w.buf = append(w.buf, '\\', 'n')
		case '\r':
			w.buf = append(w.buf, '\\', 'r')
		case '\t':
			w.buf = append(w.buf, '\\', 't')
		default:
			const hexDigits = "0123456789abcdef"
			w.buf = append(w.buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		start = i + 1
	}
	w.buf = append(w.buf, s[start:]...)
	w.buf = append(w.buf, '"')
}

// needsEscape8 reports whether any of the eight bytes of s (len(s) == 8)
// is below 0x20, '"' or '\\' (SWAR: a byte of x - 0x01.. has its high bit
// set where the byte of x was zero; bytes ≥ 0x80 are excluded by ^x).
func needsEscape8(s string) bool {
	x := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	below := (x - 0x20*ones) & ^x
	quote := x ^ '"'*ones
	backslash := x ^ '\\'*ones
	return (below|((quote-ones)&^quote)|((backslash-ones)&^backslash))&highs != 0
}

// quotedInt writes v as a quoted decimal (proto JSON's 64-bit integers).
func (w *jsonWriter) quotedInt(v int64) {
	w.buf = append(w.buf, '"')
	w.buf = strconv.AppendInt(w.buf, v, 10)
	w.buf = append(w.buf, '"')
}

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
func (w *jsonWriter) keyValues(m pcommon.Map) {
	w.raw("[")
	i := 0
	for k, v := range m.All() {
		if i > 0 {
			w.raw(",")
		}
		i++
		if k != "" {
			w.raw(`{"key":`)
			w.str(k)
			w.raw(`,"value":`)
		} else {
			w.raw(`{"value":`)
		}
		w.value(v)
		w.raw("}")
	}
	w.raw("]")
}

// value writes an AnyValue object.
func (w *jsonWriter) value(v pcommon.Value) {
	switch v.Type() {
	case pcommon.ValueTypeEmpty:
		w.raw("{}")
	case pcommon.ValueTypeStr:
		w.raw(`{"stringValue":`)
		w.str(v.Str())
		w.raw("}")
	case pcommon.ValueTypeInt:
		w.raw(`{"intValue":`)
		w.quotedInt(v.Int())
		w.raw("}")
	case pcommon.ValueTypeBool:
		if v.Bool() {
			w.raw(`{"boolValue":true}`)
		} else {
			w.raw(`{"boolValue":false}`)
		}
	case pcommon.ValueTypeBytes:
		w.raw(`{"bytesValue":"`)
		w.buf = base64.StdEncoding.AppendEncode(w.buf, v.Bytes().AsRaw())
		w.raw(`"}`)
	case pcommon.ValueTypeSlice:
		w.raw(`{"arrayValue":{`)
		if s := v.Slice(); s.Len() > 0 {
			w.raw(`"values":[`)
			for i := range s.Len() {
				if i > 0 {
					w.raw(",")
				}
				w.value(s.At(i))
			}
			w.raw("]")
		}
		w.raw("}}")
	case pcommon.ValueTypeMap:
		w.raw(`{"kvlistValue":{`)
		if m := v.Map(); m.Len() > 0 {
			w.raw(`"values":`)
			w.keyValues(m)
		}
		w.raw("}}")
	default:
		// A double: json-iterator's float formatting is not ours to copy.
		w.ok = false
		w.raw("{}")
	}
}
