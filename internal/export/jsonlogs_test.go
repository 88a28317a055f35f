package export

import (
	"bytes"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otel-sensor/otel-sensor/internal/event"
)

// checkLogsJSON asserts that appendLogsJSON writes exactly what pdata's
// JSON marshaler writes for ld.
func checkLogsJSON(t testing.TB, what string, ld plog.Logs) {
	t.Helper()
	want, err := (&plog.JSONMarshaler{}).MarshalLogs(ld)
	if err != nil {
		t.Fatal(err)
	}
	prefix := []byte("line before\n")
	got, ok := appendLogsJSON(bytes.Clone(prefix), ld)
	if !ok {
		t.Fatalf("%s: appendLogsJSON declined", what)
	}
	if !bytes.HasPrefix(got, prefix) {
		t.Fatalf("%s: what was in the buffer was overwritten", what)
	}
	got = got[len(prefix):]
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		from := max(i-80, 0)
		t.Fatalf("%s: differs from pdata's JSON at byte %d:\n got …%s\nwant …%s", what, i, got[from:min(i+80, len(got))], want[from:min(i+80, len(want))])
	}
}

// allBytes is every byte value, in a string.
func allBytes() string {
	var b strings.Builder
	for c := range 256 {
		b.WriteByte(byte(c))
	}
	return b.String()
}

func TestLogsJSONMatchesPdata(t *testing.T) {
	for _, tc := range mappingCases() {
		checkLogsJSON(t, tc.name, NewLogs(testResource, []*event.Event{tc.ev}))
	}
	checkLogsJSON(t, "all test events", NewLogs(testResource, allTestEvents()))
	checkLogsJSON(t, "empty", plog.NewLogs())

	// Everything plog's API can set, and strings with every byte.
	ld := plog.NewLogs()
	ld.ResourceLogs().AppendEmpty() // no scope logs, empty resource
	rl := ld.ResourceLogs().AppendEmpty()
	rl.SetSchemaUrl("https://opentelemetry.io/schemas/1.30.0")
	rl.Resource().SetDroppedAttributesCount(3)
	rl.Resource().Attributes().PutStr("ctl\x00\x1f\x7f\"\\/<>&\u2028", allBytes())
	rl.ScopeLogs().AppendEmpty() // empty scope, no records
	sl := rl.ScopeLogs().AppendEmpty()
	sl.SetSchemaUrl("s")
	sl.Scope().SetVersion("only a version")
	sl.Scope().Attributes().PutInt("n", -9223372036854775808)
	sl.Scope().SetDroppedAttributesCount(4294967295)
	sl2 := rl.ScopeLogs().AppendEmpty()
	sl2.Scope().Attributes().PutBool("first field is attributes", true)
	sl2.LogRecords().AppendEmpty() // an empty record: body only
	lr := sl.LogRecords().AppendEmpty()
	lr.SetTimestamp(1)
	lr.SetSeverityNumber(plog.SeverityNumberFatal4)
	lr.SetSeverityText("x")
	lr.Body().SetStr("body \t\n\r")
	lr.SetDroppedAttributesCount(7)
	lr.SetFlags(plog.DefaultLogRecordFlags.WithIsSampled(true))
	lr.SetTraceID(pcommon.TraceID{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0xff})
	lr.SetSpanID(pcommon.SpanID{0xab, 0, 0, 0, 0, 0, 0, 1})
	lr.SetEventName("e\"v")
	a := lr.Attributes()
	a.PutEmpty("empty")
	a.PutStr("", "empty key")
	a.PutInt("max", 9223372036854775807)
	a.PutBool("f", false)
	a.PutEmptyBytes("no bytes")
	a.PutEmptyBytes("bytes").FromRaw([]byte(allBytes()))
	s := a.PutEmptySlice("slice")
	s.AppendEmpty()
	s.AppendEmpty().SetStr("")
	s.AppendEmpty().SetEmptySlice()
	s.AppendEmpty().SetEmptyMap().PutEmptySlice("inner").AppendEmpty().SetInt(-1)
	m := a.PutEmptyMap("map")
	m.PutEmptyMap("empty map")
	m.PutStr("", "")
	lr2 := sl.LogRecords().AppendEmpty()
	lr2.SetObservedTimestamp(18446744073709551615)
	lr2.Body().SetEmptyMap()
	lr3 := sl.LogRecords().AppendEmpty()
	lr3.SetSeverityNumber(plog.SeverityNumber(-3))
	lr3.Body().SetEmptyBytes().FromRaw([]byte{0})
	checkLogsJSON(t, "every field", ld)

	// A double is left to pdata.
	lr3.Attributes().PutDouble("d", 1.5)
	if _, ok := appendLogsJSON(nil, ld); ok {
		t.Error("appendLogsJSON wrote a double")
	}
}

// FuzzLogsJSON builds logs from arbitrary strings and numbers and holds
// appendLogsJSON to pdata's marshaler.
func FuzzLogsJSON(f *testing.F) {
	f.Add("key", "value", int64(1), uint64(2), uint8(0))
	f.Add("", "\x00\xff\"\\\u2028", int64(-1), uint64(0), uint8(255))
	f.Fuzz(func(t *testing.T, k, v string, n int64, ts uint64, shape uint8) {
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr(k, v)
		if shape&1 != 0 {
			rl.SetSchemaUrl(v)
		}
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName(k)
		if shape&2 != 0 {
			sl.Scope().SetVersion(v)
		}
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.Timestamp(ts))
		lr.SetObservedTimestamp(pcommon.Timestamp(ts >> 3))
		lr.SetSeverityNumber(plog.SeverityNumber(n))
		lr.SetSeverityText(v)
		lr.SetEventName(k)
		if shape&4 != 0 {
			lr.Body().SetStr(v)
		}
		if shape&8 != 0 {
			lr.SetFlags(plog.LogRecordFlags(ts))
		}
		a := lr.Attributes()
		a.PutStr(k, v)
		a.PutInt(v, n)
		a.PutEmptyBytes(k + "b").FromRaw([]byte(v))
		s := a.PutEmptySlice(k + "s")
		for range shape % 5 {
			s.AppendEmpty().SetStr(v)
		}
		if shape&16 != 0 {
			a.PutEmptyMap(k+"m").PutStr(v, k)
		}
		checkLogsJSON(t, "fuzzed", ld)
	})
}

// JSONLines writes what pdata's marshaler writes, one object per line.
func TestJSONLinesWritesPdataJSON(t *testing.T) {
	ld := NewLogs(testResource, allTestEvents())
	var buf bytes.Buffer
	exp := NewJSONLines(&buf)
	if err := exp.ExportLogs(t.Context(), ld); err != nil {
		t.Fatal(err)
	}
	ld2 := NewLogs(testResource, allTestEvents()[:3])
	ld2.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes().PutDouble("d", 0.25)
	if err := exp.ExportLogs(t.Context(), ld2); err != nil {
		t.Fatal(err)
	}
	var want []byte
	for _, l := range []plog.Logs{ld, ld2} {
		b, err := (&plog.JSONMarshaler{}).MarshalLogs(l)
		if err != nil {
			t.Fatal(err)
		}
		want = append(append(want, b...), '\n')
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("JSONLines wrote:\n%s\nwant:\n%s", buf.Bytes(), want)
	}
}

// plainLen agrees with the byte-wise rule for every byte value in every
// position of strings of every length up to 19 (none, one or two 8-byte
// words, and tails of every size), among bytes that need no escaping and
// among those that do, before and after another byte that does.
func TestPlainLen(t *testing.T) {
	escape := func(c byte) bool { return c < 0x20 || c == '"' || c == '\\' }
	for _, fill := range []byte{'a', 0xff, 0x80, 0x7f, ' ', '!', '#', '[', ']', 0x1f, 0} {
		for n := 1; n <= 19; n++ {
			for _, other := range []int{-1, 0, 5, 9, 18} {
				for pos := range n {
					for c := range 256 {
						b := bytes.Repeat([]byte{fill}, n)
						if other >= 0 && other < n {
							b[other] = '"'
						}
						b[pos] = byte(c)
						want := 0
						for want < len(b) && !escape(b[want]) {
							want++
						}
						if got := plainLen(string(b)); got != want {
							t.Fatalf("plainLen(%q) = %d, want %d", b, got, want)
						}
					}
				}
			}
		}
	}
}
