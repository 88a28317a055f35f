package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPrecedence(t *testing.T) {
	file := writeFile(t, "provider: netlink\noutput: /from/file\nexport:\n  queue_size: 100\n  max_batch: 7\n")
	cfg, err := Load(Sources{
		File:    file,
		Environ: []string{"OTEL_SENSOR_OUTPUT=/from/env", "OTEL_SENSOR_EXPORT__QUEUE_SIZE=200", "OTHER=1"},
		Flags:   []Flag{{Name: "--output", Key: "output", Value: "/from/flag"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Provider != "netlink" { // file over default
		t.Errorf("provider = %q, want netlink (file)", cfg.Provider)
	}
	if cfg.Export.MaxBatch != 7 {
		t.Errorf("max_batch = %d, want 7 (file)", cfg.Export.MaxBatch)
	}
	if cfg.Export.QueueSize != 200 { // env over file
		t.Errorf("queue_size = %d, want 200 (env)", cfg.Export.QueueSize)
	}
	if cfg.Output != "/from/flag" { // flag over env over file
		t.Errorf("output = %q, want /from/flag", cfg.Output)
	}
	if cfg.Export.FlushInterval != 200*time.Millisecond { // default kept
		t.Errorf("flush_interval = %s, want default", cfg.Export.FlushInterval)
	}
}

func TestDurationsFromEachSource(t *testing.T) {
	file := writeFile(t, "ebpf:\n  poll_interval: 50ms\n")
	cfg, err := Load(Sources{File: file, Environ: []string{"OTEL_SENSOR_EXPORT__METRICS_INTERVAL=5s"}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.EBPF.PollInterval != 50*time.Millisecond || cfg.Export.MetricsInterval != 5*time.Second {
		t.Errorf("got poll %s metrics %s", cfg.EBPF.PollInterval, cfg.Export.MetricsInterval)
	}
}

func TestMissingDefaultFileIsFine(t *testing.T) {
	if _, err := Load(Sources{File: "/nonexistent/config.yaml"}); err != nil {
		t.Fatalf("missing optional file: %v", err)
	}
	_, err := Load(Sources{File: "/nonexistent/config.yaml", FileRequired: true})
	var ce *Error
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "/nonexistent/config.yaml") {
		t.Fatalf("missing --config file: got %v", err)
	}
}

func TestErrorsNameKeyAndSource(t *testing.T) {
	for _, tc := range []struct {
		name   string
		src    Sources
		key    string
		source string
	}{
		{"unknown file key", Sources{File: writeFile(t, "provder: ebpf\n")}, "provder", "file "},
		{"unknown nested file key", Sources{File: writeFile(t, "export:\n  queue: 3\n")}, "export.queue", "file "},
		{"section given a value", Sources{File: writeFile(t, "export: 3\n")}, "export", "file "},
		{"bad type in file", Sources{File: writeFile(t, "export:\n  queue_size: lots\n")}, "export.queue_size", "file "},
		{"bad duration in env", Sources{Environ: []string{"OTEL_SENSOR_EBPF__POLL_INTERVAL=soon"}}, "ebpf.poll_interval", "environment variable OTEL_SENSOR_EBPF__POLL_INTERVAL"},
		{"unknown env key", Sources{Environ: []string{"OTEL_SENSOR_NOPE=1"}}, "nope", "environment variable OTEL_SENSOR_NOPE"},
		{"bad provider flag", Sources{Flags: []Flag{{Name: "--provider", Key: "provider", Value: "kprobe"}}}, "provider", "effective configuration"},
		{"ring buffer not power of two", Sources{Environ: []string{"OTEL_SENSOR_EBPF__RING_BUFFER_BYTES=100000"}}, "ebpf.ring_buffer_bytes", "effective configuration"},
		{"bad open mode", Sources{Environ: []string{"OTEL_SENSOR_FILE__OPENS=some"}}, "file.opens", "effective configuration"},
		{"bad bool in file", Sources{File: writeFile(t, "file:\n  failed: maybe\n")}, "file.failed", "file "},
		{"queue size zero", Sources{Environ: []string{"OTEL_SENSOR_EXPORT__QUEUE_SIZE=0"}}, "export.queue_size", "effective configuration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.src)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want *Error", err)
			}
			if ce.Key != tc.key || !strings.HasPrefix(ce.Source, tc.source) {
				t.Fatalf("got key %q source %q (%v), want key %q source %q", ce.Key, ce.Source, err, tc.key, tc.source)
			}
			if !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("message %q does not name the key", err)
			}
		})
	}
}

func TestDefaultsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatal(err)
	}
}

// The example file documents every key with its default value.
func TestExampleFileIsTheDefaults(t *testing.T) {
	cfg, err := Load(Sources{File: "example.yaml", FileRequired: true})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, Default()) {
		t.Fatalf("example.yaml gives %+v, defaults are %+v", cfg, Default())
	}
}
