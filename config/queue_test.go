package config

import (
	"errors"
	"strings"
	"testing"
)

func TestPersistentQueueFromFile(t *testing.T) {
	cfg, err := Load(Sources{File: "testdata/persistent_queue.yaml", FileRequired: true})
	if err != nil {
		t.Fatal(err)
	}
	want := PersistentQueue{Enabled: true, Directory: "/srv/otel-sensor/queue", MaxBytes: 1 << 30, FSync: true}
	if got := cfg.Export.PersistentQueue; got != want {
		t.Errorf("persistent_queue = %+v, want %+v", got, want)
	}
}

func TestPersistentQueueDefaults(t *testing.T) {
	got := Default().Export.PersistentQueue
	want := PersistentQueue{Directory: "/var/lib/otel-sensor/queue", MaxBytes: 256 << 20}
	if got != want {
		t.Errorf("defaults = %+v, want %+v", got, want)
	}
}

func TestPersistentQueueFromEnvironment(t *testing.T) {
	cfg, err := Load(Sources{Environ: []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317",
		"OTEL_SENSOR_EXPORT__PERSISTENT_QUEUE__ENABLED=true",
		"OTEL_SENSOR_EXPORT__PERSISTENT_QUEUE__DIRECTORY=/tmp/q",
		"OTEL_SENSOR_EXPORT__PERSISTENT_QUEUE__MAX_BYTES=2097152",
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := PersistentQueue{Enabled: true, Directory: "/tmp/q", MaxBytes: 2 << 20}
	if got := cfg.Export.PersistentQueue; got != want {
		t.Errorf("persistent_queue = %+v, want %+v", got, want)
	}
}

func TestPersistentQueueErrors(t *testing.T) {
	otlp := "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317"
	for _, tc := range []struct {
		name    string
		src     Sources
		key     string
		message string
	}{
		{"max bytes below 1 MiB", Sources{Environ: []string{otlp, "OTEL_SENSOR_EXPORT__PERSISTENT_QUEUE__MAX_BYTES=1000"}},
			"export.persistent_queue.max_bytes", "at least 1048576"},
		{"max bytes not a number", Sources{File: writeFile(t, "export:\n  persistent_queue:\n    max_bytes: big\n")},
			"export.persistent_queue.max_bytes", "bad value"},
		{"relative directory", Sources{File: writeFile(t, "export:\n  persistent_queue:\n    directory: queue\n")},
			"export.persistent_queue.directory", "absolute"},
		{"empty directory", Sources{Environ: []string{"OTEL_SENSOR_EXPORT__PERSISTENT_QUEUE__DIRECTORY="}},
			"export.persistent_queue.directory", "absolute"},
		{"enabled without OTLP", Sources{Environ: []string{"OTEL_SENSOR_EXPORT__PERSISTENT_QUEUE__ENABLED=true"}},
			"export.persistent_queue.enabled", "no signal is exported over OTLP"},
		{"enabled with both signals on the console", Sources{Environ: []string{otlp, "OTEL_LOGS_EXPORTER=console", "OTEL_METRICS_EXPORTER=none", "OTEL_SENSOR_EXPORT__PERSISTENT_QUEUE__ENABLED=true"}},
			"export.persistent_queue.enabled", "events go to console, metrics to none"},
		{"unknown key", Sources{File: writeFile(t, "export:\n  persistent_queue:\n    size: 3\n")},
			"export.persistent_queue.size", "unknown key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.src)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want *Error", err)
			}
			if ce.Key != tc.key || !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("got key %q: %v; want key %q and %q", ce.Key, err, tc.key, tc.message)
			}
		})
	}
}

// Only metrics over OTLP is enough for the queue to have work.
func TestPersistentQueueWithMetricsOnlyOverOTLP(t *testing.T) {
	_, err := Load(Sources{Environ: []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317",
		"OTEL_LOGS_EXPORTER=console",
		"OTEL_SENSOR_EXPORT__PERSISTENT_QUEUE__ENABLED=true",
	}})
	if err != nil {
		t.Fatal(err)
	}
}
