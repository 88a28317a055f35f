package export

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pcommon"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"

	"github.com/otel-sensor/otel-sensor/internal/probes"
)

// PersistentQueueConfig configures the queue on disk behind the OTLP
// exporters: exporterhelper's sending queue kept in the contrib
// filestorage extension (bbolt files, one per signal).
type PersistentQueueConfig struct {
	// Directory holds the queue files; it is created (0700) when missing.
	Directory string
	// MaxBytes bounds what the queues hold together, in bytes of OTLP
	// protobuf: the metrics get MaxBytes/16, the events the rest. A batch
	// that does not fit is refused with ErrPersistentQueueFull.
	MaxBytes int64
	// FSync syncs the files after every write.
	FSync bool
}

// Drop reasons of the persistent queue (stage "queue").
const (
	reasonPersistentQueueFull  = "persistent_queue_full"
	reasonPersistentQueueError = "persistent_queue_error"
)

// ErrPersistentQueueFull is returned by an export that found the
// persistent queue without room for the batch: the batch is dropped, and
// the Pipeline counts it (stage "queue", reason "persistent_queue_full").
var ErrPersistentQueueFull = errors.New("persistent queue is full")

// ErrPersistentQueue marks a failure of the persistent queue itself: it
// could not be opened at start, or a batch could not be written to it
// (the Pipeline counts such a batch as stage "queue", reason
// "persistent_queue_error").
var ErrPersistentQueue = errors.New("persistent queue")

// Queue parameters the configuration does not expose.
const (
	// queueConsumers is how many batches the queue sends at once
	// (exporterhelper's default).
	queueConsumers = 10
	// drainStall ends the drain at shutdown when the queue has not shrunk
	// for this long: the collector is away or slow, and what is left stays
	// on disk for the next start.
	drainStall = 2 * time.Second
	// drainReserve is kept from the shutdown deadline for stopping the
	// exporters after the drain.
	drainReserve = time.Second
	// drainDefault bounds the drain when Shutdown's context has no
	// deadline.
	drainDefault = 5 * time.Second
	drainPoll    = 20 * time.Millisecond
)

// queueOwner is the owner the storage clients are asked for, whatever the
// exporter (otlp or otlphttp): the queue files keep their names
// (exporter_otel_sensor_queue_logs, ..._metrics) when the protocol
// changes, so what a previous run left is sent by the next one.
func queueOwner() component.ID { return component.MustNewIDWithName("otel_sensor", "queue") }

// storageID is the ID under which the host lists the storage extension.
func storageID() component.ID { return component.MustNewIDWithName("file_storage", "otel_sensor") }

// capacities splits cfg.MaxBytes between the signals.
func (cfg PersistentQueueConfig) capacities() (logs, metrics int64) {
	metrics = cfg.MaxBytes / 16
	return cfg.MaxBytes - metrics, metrics
}

// queueConfig is the sending queue of one signal: on disk, sized in
// bytes, never blocking (a full queue refuses the batch at once), and
// without exporterhelper's batching (the Pipeline batches already).
func (cfg PersistentQueueConfig) queueConfig(capacity int64) configoptional.Optional[exporterhelper.QueueBatchConfig] {
	id := storageID()
	return configoptional.Some(exporterhelper.QueueBatchConfig{
		Sizer:           exporterhelper.RequestSizerTypeBytes,
		QueueSize:       capacity,
		NumConsumers:    queueConsumers,
		BlockOnOverflow: false,
		StorageID:       &id,
		Batch:           configoptional.None[exporterhelper.BatchConfig](),
	})
}

// queueStorage is the started filestorage extension, offered to the
// exporters through the component.Host they are started with.
type queueStorage struct {
	ext storage.Extension
}

// startQueueStorage creates and starts the filestorage extension in
// cfg.Directory: created 0700 when missing, compacted online once a large
// queue has drained (not at start, which would delay the provider by the
// time it takes to copy the file), and recreated (the old file kept as a
// backup) when bbolt finds it corrupt, so a damaged queue never stops the
// sensor.
func startQueueStorage(ctx context.Context, cfg PersistentQueueConfig, logger *zap.Logger) (*queueStorage, error) {
	factory := filestorage.NewFactory()
	fc := factory.CreateDefaultConfig().(*filestorage.Config)
	fc.Directory = cfg.Directory
	fc.CreateDirectory = true
	fc.DirectoryPermissions = "0700"
	fc.FSync = cfg.FSync
	fc.Recreate = true
	fc.Compaction.Directory = cfg.Directory
	fc.Compaction.OnRebound = true
	fc.Compaction.CleanupOnStart = true
	// Validate also parses DirectoryPermissions for the extension.
	if err := fc.Validate(); err != nil {
		return nil, fmt.Errorf("%w: directory %s: %w", ErrPersistentQueue, cfg.Directory, err)
	}
	set := extension.Settings{
		ID: storageID(),
		TelemetrySettings: component.TelemetrySettings{
			Logger:         logger,
			TracerProvider: tracenoop.NewTracerProvider(),
			MeterProvider:  metricnoop.NewMeterProvider(),
			Resource:       pcommon.NewResource(),
		},
		BuildInfo: component.NewDefaultBuildInfo(),
	}
	ext, err := factory.Create(ctx, set, fc)
	if err != nil {
		return nil, fmt.Errorf("%w: directory %s: %w", ErrPersistentQueue, cfg.Directory, err)
	}
	se, ok := ext.(storage.Extension)
	if !ok {
		return nil, fmt.Errorf("%w: %T is not a storage extension", ErrPersistentQueue, ext)
	}
	if err := ext.Start(ctx, exporterHost{}); err != nil {
		return nil, fmt.Errorf("%w: directory %s: %w", ErrPersistentQueue, cfg.Directory, err)
	}
	return &queueStorage{ext: se}, nil
}

// GetClient opens the queue file of one signal under the sensor's own
// owner name, whichever exporter asks.
func (s *queueStorage) GetClient(ctx context.Context, _ component.Kind, _ component.ID, name string) (storage.Client, error) {
	c, err := s.ext.GetClient(ctx, component.KindExporter, queueOwner(), name)
	if err != nil {
		return nil, fmt.Errorf("%w: open the %s queue file: %w", ErrPersistentQueue, name, err)
	}
	return c, nil
}

func (s *queueStorage) Start(context.Context, component.Host) error { return nil }

// Shutdown shuts the extension down; the exporters have closed their
// clients by then.
func (s *queueStorage) Shutdown(ctx context.Context) error { return s.ext.Shutdown(ctx) }

var _ storage.Extension = (*queueStorage)(nil)

// The exporterhelper telemetry the persistent queue is observed through:
// its documented internal metrics, read from a manual reader.
const (
	metricQueueSize        = "otelcol_exporter_queue_size"
	metricQueueCapacity    = "otelcol_exporter_queue_capacity"
	metricSendFailedLogs   = "otelcol_exporter_send_failed_log_records"
	telemetryExporter      = "exporter"
	telemetryErrorType     = "error.type"
	telemetryPermanent     = "error.permanent"
	errorTypeShutdown      = "Shutdown"
	exporterTelemetryScope = "go.opentelemetry.io/collector/exporter/exporterhelper"
)

// queueTelemetry collects the exporters' own metrics — the sizes of their
// queues and the records given up after retries — which exporterhelper
// reports nowhere else. Every other instrument is dropped.
type queueTelemetry struct {
	reader   *sdkmetric.ManualReader
	provider *sdkmetric.MeterProvider
}

func newQueueTelemetry() *queueTelemetry {
	reader := sdkmetric.NewManualReader()
	keep := map[string]bool{metricQueueSize: true, metricQueueCapacity: true, metricSendFailedLogs: true}
	dropOthers := func(i sdkmetric.Instrument) (sdkmetric.Stream, bool) {
		if keep[i.Name] && i.Scope.Name == exporterTelemetryScope {
			return sdkmetric.Stream{}, false // the default stream
		}
		return sdkmetric.Stream{Aggregation: sdkmetric.AggregationDrop{}}, true
	}
	return &queueTelemetry{
		reader:   reader,
		provider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader), sdkmetric.WithView(dropOthers)),
	}
}

// queueSnapshot is what queueTelemetry read at one moment.
type queueSnapshot struct {
	// size and capacity of each exporter's queue in bytes, by exporter
	// ID ("otlp/logs").
	size, capacity map[string]int64
	// Log records the queue's consumers gave up on: after the retries ran
	// out or the collector refused them (permanent). Exports interrupted
	// by shutdown are not among them: their batches stay on disk.
	exportFailed, rejected uint64
}

func (t *queueTelemetry) read(ctx context.Context) queueSnapshot {
	s := queueSnapshot{size: map[string]int64{}, capacity: map[string]int64{}}
	var rm metricdata.ResourceMetrics
	if err := t.reader.Collect(ctx, &rm); err != nil {
		return s
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch m.Name {
			case metricQueueSize, metricQueueCapacity:
				g, ok := m.Data.(metricdata.Gauge[int64])
				if !ok {
					continue
				}
				into := s.size
				if m.Name == metricQueueCapacity {
					into = s.capacity
				}
				for _, dp := range g.DataPoints {
					id, _ := dp.Attributes.Value(telemetryExporter)
					into[id.AsString()] += dp.Value
				}
			case metricSendFailedLogs:
				sum, ok := m.Data.(metricdata.Sum[int64])
				if !ok {
					continue
				}
				for _, dp := range sum.DataPoints {
					if typ, _ := dp.Attributes.Value(telemetryErrorType); typ.AsString() == errorTypeShutdown || dp.Value <= 0 {
						continue
					}
					if perm, _ := dp.Attributes.Value(telemetryPermanent); perm.AsBool() {
						s.rejected += uint64(dp.Value)
					} else {
						s.exportFailed += uint64(dp.Value)
					}
				}
			}
		}
	}
	return s
}

// drops returns the losses after the queue: stage "export", without an
// event name (the queue does not say which records a batch held).
func (s queueSnapshot) drops() []probes.Drop {
	var out []probes.Drop
	if s.exportFailed > 0 {
		out = append(out, probes.Drop{Stage: stageExport, Reason: reasonExportFailed, Count: s.exportFailed})
	}
	if s.rejected > 0 {
		out = append(out, probes.Drop{Stage: stageExport, Reason: reasonRejected, Count: s.rejected})
	}
	return out
}

// total is the bytes held by every queue.
func (s queueSnapshot) total() int64 {
	var n int64
	for _, v := range s.size {
		n += v
	}
	return n
}

func (t *queueTelemetry) shutdown(ctx context.Context) error {
	return t.provider.Shutdown(ctx)
}

// drain waits until the queues are empty — everything delivered — or they
// stop shrinking for drainStall, or the deadline nears; what is left stays
// on disk for the next start. It reports whether the queues emptied.
func (t *queueTelemetry) drain(ctx context.Context) bool {
	deadline := time.Now().Add(drainDefault)
	if d, ok := ctx.Deadline(); ok {
		deadline = d.Add(-drainReserve)
	}
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	last, progress := t.read(ctx).total(), time.Now()
	for last > 0 {
		select {
		case <-ctx.Done():
			return false
		case now := <-tick.C:
			if now.After(deadline) || now.Sub(progress) > drainStall {
				return false
			}
			if size := t.read(ctx).total(); size < last {
				last, progress = size, now
			}
		}
	}
	return true
}

// classifyQueued maps the error of an export handed to a persistent queue,
// which only ever fails to enqueue.
func classifyQueued(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, exporterhelper.ErrQueueIsFull):
		return fmt.Errorf("%w: %w", ErrPersistentQueueFull, err)
	}
	return fmt.Errorf("%w: %w", ErrPersistentQueue, err)
}
