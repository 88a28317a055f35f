package config

import (
	"fmt"
	"path/filepath"
)

// Defaults and limits of export.persistent_queue.
const (
	DefaultQueueDirectory = "/var/lib/otel-sensor/queue"
	DefaultQueueMaxBytes  = 256 << 20
	// MinQueueMaxBytes leaves room for a few full batches.
	MinQueueMaxBytes = 1 << 20
)

// PersistentQueue configures the queue on disk of the OTLP exporters
// (export.persistent_queue): what is handed to the exporter is written
// there first and deleted once delivered, so a collector outage or a
// restart of the sensor loses nothing up to the bound.
type PersistentQueue struct {
	// Enabled turns the queue on for every signal exported over OTLP.
	Enabled bool `koanf:"enabled"`
	// Directory holds the queue's files; created (0700) when missing.
	Directory string `koanf:"directory"`
	// MaxBytes bounds what the queue holds, in bytes of OTLP protobuf,
	// both signals together; beyond it new batches are dropped and
	// counted (stage queue, reason persistent_queue_full).
	MaxBytes int64 `koanf:"max_bytes"`
	// FSync syncs the files after every write: the queue then survives a
	// power loss too, not only a crash of the sensor, at a cost per batch.
	FSync bool `koanf:"fsync"`
}

func defaultPersistentQueue() PersistentQueue {
	return PersistentQueue{
		Directory: DefaultQueueDirectory,
		MaxBytes:  DefaultQueueMaxBytes,
	}
}

// validatePersistentQueue checks export.persistent_queue. The values are
// checked even when the queue is off, so a mistake shows before it is
// turned on.
func (c Config) validatePersistentQueue() error {
	bad := func(key, format string, args ...any) error {
		return &Error{Key: "export.persistent_queue." + key, Source: "effective configuration", Err: fmt.Errorf(format, args...)}
	}
	q := c.Export.PersistentQueue
	if q.Directory == "" || !filepath.IsAbs(q.Directory) {
		return bad("directory", "must be an absolute path, not %q", q.Directory)
	}
	if q.MaxBytes < MinQueueMaxBytes {
		return bad("max_bytes", "must be at least %d (1 MiB), not %d", MinQueueMaxBytes, q.MaxBytes)
	}
	if q.Enabled && c.LogsExporter() != ExporterOTLP && c.MetricsExporter() != ExporterOTLP {
		return bad("enabled", "is true but no signal is exported over OTLP (events go to %s, metrics to %s)", c.LogsExporter(), c.MetricsExporter())
	}
	return nil
}
