package export

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otel-sensor/otel-sensor/internal/event"
)

func testLogs(n int) plog.Logs {
	evs := make([]*event.Event, n)
	for i := range evs {
		evs[i] = &event.Event{Kind: event.KindFork, Time: eventTime, Process: event.Process{PID: uint32(i + 1)}}
	}
	return NewLogs(testResource, evs)
}

func testMetrics() pmetric.Metrics {
	p := NewPipeline(testResource, newFakeExporter(), PipelineConfig{Provider: "ebpf"})
	return p.metrics(eventTime)
}

func TestJSONLinesFormat(t *testing.T) {
	var buf bytes.Buffer
	exp := NewJSONLines(&buf)
	ctx := context.Background()
	ld, md := testLogs(3), testMetrics()
	if err := exp.ExportLogs(ctx, ld); err != nil {
		t.Fatal(err)
	}
	if err := exp.ExportMetrics(ctx, md); err != nil {
		t.Fatal(err)
	}
	// Empty data writes nothing.
	if err := exp.ExportLogs(ctx, plog.NewLogs()); err != nil {
		t.Fatal(err)
	}
	if err := exp.ExportMetrics(ctx, pmetric.NewMetrics()); err != nil {
		t.Fatal(err)
	}

	var lm plog.JSONMarshaler
	var mm pmetric.JSONMarshaler
	wantLogs, _ := lm.MarshalLogs(ld)
	wantMetrics, _ := mm.MarshalMetrics(md)
	want := string(wantLogs) + "\n" + string(wantMetrics) + "\n"
	if buf.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", buf.String(), want)
	}
	var mu pmetric.JSONUnmarshaler
	lines := bytes.SplitAfter(buf.Bytes(), []byte("\n"))
	if got, err := mu.UnmarshalMetrics(lines[1]); err != nil || got.MetricCount() != md.MetricCount() {
		t.Errorf("metrics line does not read back: %v", err)
	}
}

func TestJSONLinesConcurrent(t *testing.T) {
	var buf bytes.Buffer
	exp := NewJSONLines(&buf)
	const writers, each = 8, 50
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range each {
				if err := exp.ExportLogs(context.Background(), testLogs(2)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	lines := 0
	for sc.Scan() {
		lines++
		if ld := unmarshalLogs(t, sc.Bytes()); ld.LogRecordCount() != 2 {
			t.Fatalf("line %d has %d records", lines, ld.LogRecordCount())
		}
	}
	if lines != writers*each {
		t.Errorf("%d lines, want %d", lines, writers*each)
	}
}

func TestOpenJSONLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(path, []byte("kept\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	exp, err := OpenJSONLines(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = exp.Shutdown(context.Background()) })
	if err := exp.ExportLogs(context.Background(), testLogs(1)); err != nil {
		t.Fatal(err)
	}
	// Flushed after each export: the line is on disk before Shutdown.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
	if len(lines) != 2 || string(lines[0]) != "kept" {
		t.Fatalf("file = %q, want the old line then one new line", b)
	}
	unmarshalLogs(t, lines[1])

	if err := exp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := exp.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	if err := exp.ExportLogs(context.Background(), testLogs(1)); !errors.Is(err, ErrShutdown) {
		t.Errorf("export after Shutdown: %v, want ErrShutdown", err)
	}
	if err := exp.file.Close(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("file still open after Shutdown (Close: %v)", err)
	}
}

func TestOpenJSONLinesCreatesPrivateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.jsonl")
	exp, err := OpenJSONLines(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = exp.Shutdown(context.Background()) })
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("mode = %v, want 0600", perm)
	}
	if _, err := OpenJSONLines(filepath.Join(t.TempDir(), "no", "such", "dir")); err == nil {
		t.Error("no error for a path in a missing directory")
	}
}

// closeRecorder is a writer that notes whether it was closed.
type closeRecorder struct {
	bytes.Buffer
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

func TestJSONLinesDoesNotCloseWriter(t *testing.T) {
	w := &closeRecorder{}
	exp := NewJSONLines(w)
	if err := exp.ExportLogs(context.Background(), testLogs(1)); err != nil {
		t.Fatal(err)
	}
	if err := exp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if w.closed {
		t.Error("Shutdown closed a writer it did not open")
	}
	if w.Len() == 0 {
		t.Error("nothing written")
	}
}

func TestJSONLinesHonoursContext(t *testing.T) {
	exp := NewJSONLines(&bytes.Buffer{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := exp.ExportLogs(ctx, testLogs(1)); !errors.Is(err, context.Canceled) {
		t.Errorf("export with a cancelled context: %v", err)
	}
}
