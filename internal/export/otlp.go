package export

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configcompression"
	"go.opentelemetry.io/collector/config/configmiddleware"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/otlpexporter"
	"go.opentelemetry.io/collector/exporter/otlphttpexporter"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"

	"github.com/otel-sensor/otel-sensor/internal/probes"
)

// OTLP protocols, as OTEL_EXPORTER_OTLP_PROTOCOL names them.
const (
	ProtocolGRPC         = "grpc"
	ProtocolHTTPProtobuf = "http/protobuf"
	ProtocolHTTPJSON     = "http/json"
)

// reasonRejected is the drop reason for log records the receiver refused:
// a non-retryable error answer, or rejected_log_records of a partial
// success.
const reasonRejected = "rejected"

// ErrRejected marks an export error the receiver answered with a
// non-retryable status (HTTP 400, gRPC InvalidArgument, ...): retrying the
// same data cannot succeed. The Pipeline counts such a batch as dropped
// with reason "rejected" instead of "export_failed".
var ErrRejected = errors.New("rejected by the receiver")

// OTLPConfig is where and how one signal is sent over OTLP. The zero value
// of a field means its default.
type OTLPConfig struct {
	// Protocol is ProtocolGRPC (default), ProtocolHTTPProtobuf or
	// ProtocolHTTPJSON.
	Protocol string
	// Endpoint: for gRPC, host:port or a URL whose scheme chooses the
	// transport (http:// plaintext, https:// TLS; the path is ignored). For
	// HTTP, the full URL requests are posted to (e.g.
	// http://collector:4318/v1/logs), used as is.
	Endpoint string
	// Insecure makes a gRPC endpoint given without a scheme use plaintext
	// instead of TLS. It has no effect on URLs.
	Insecure bool
	// CAFile is the PEM file of the CA certificates that verify the
	// server; empty means the system's roots.
	CAFile string
	// CertFile and KeyFile are the PEM client certificate and key for
	// mutual TLS; both or neither.
	CertFile, KeyFile string
	// Headers are sent with every request (gRPC metadata or HTTP headers).
	Headers map[string]string
	// Compression is "gzip", or "" / "none" for none.
	Compression string
	// Timeout bounds one attempt (default 10s).
	Timeout time.Duration
	// Retry is the backoff for retryable failures.
	Retry RetryConfig
}

// RetryConfig is the exponential backoff between attempts of one export.
// Only retryable failures are retried: gRPC UNAVAILABLE, DEADLINE_EXCEEDED,
// ABORTED, OUT_OF_RANGE, DATA_LOSS, CANCELLED and RESOURCE_EXHAUSTED with
// RetryInfo; HTTP 429, 502, 503 and 504; and transport errors. A server's
// RetryInfo or Retry-After lengthens the wait.
type RetryConfig struct {
	// Disabled turns retries off: a failed attempt fails the export.
	Disabled bool
	// InitialInterval is the first wait (default 5s); it grows by 1.5 with
	// ±50% jitter up to MaxInterval (default 30s).
	InitialInterval, MaxInterval time.Duration
	// MaxElapsedTime ends the retries of one export (default 5m); negative
	// means no limit.
	MaxElapsedTime time.Duration
}

// Defaults of OTLPConfig.
const (
	DefaultOTLPTimeout         = 10 * time.Second
	DefaultRetryInitial        = 5 * time.Second
	DefaultRetryMaxInterval    = 30 * time.Second
	DefaultRetryMaxElapsedTime = 5 * time.Minute
)

// OTLPOptions configures NewOTLP.
type OTLPOptions struct {
	// Logs and Metrics say where each signal goes; nil means the signal is
	// not exported (its exports succeed and send nothing).
	Logs, Metrics *OTLPConfig
	// Logger receives the exporters' own messages (retries, failures,
	// partial successes); nil discards them.
	Logger *slog.Logger
	// Version is the sensor's version, sent in the User-Agent.
	Version string
	// PersistentQueue, when set, puts a queue on disk behind both
	// exporters (persistent.go): an export then returns once the batch is
	// on disk, and the queue's consumers deliver it with retries.
	PersistentQueue *PersistentQueueConfig
}

// OTLP exports logs and metrics over OTLP/gRPC or OTLP/HTTP. It drives the
// OpenTelemetry Collector's own otlp and otlphttp exporters: their
// transport (TLS, headers, compression, timeouts) and their retry with
// exponential backoff.
//
// Without a persistent queue, exports are synchronous — an export returns
// once the data was delivered, refused or given up on — so the Pipeline's
// queue is the only queue and its counts stay exact. With one, an export
// returns once the batch is on disk (or refused: ErrPersistentQueueFull);
// the records the queue later gives up on are reported by Drops.
type OTLP struct {
	logs    exporter.Logs    // nil when logs are not exported
	metrics exporter.Metrics // nil when metrics are not exported

	rejected atomic.Uint64 // log records refused in partial successes
	// retrying is the last failed attempt that was to be retried;
	// delivered is when an export was last delivered (Unix nanoseconds),
	// without a persistent queue.
	retrying  atomic.Pointer[retryNote]
	delivered atomic.Int64
	// retryFresh: with the persistent queue, how long a retry note says
	// the collector is failing (its consumers fail again within a retry
	// interval and a timeout while it is).
	retryFresh time.Duration

	// With a persistent queue: its storage and the exporters' telemetry,
	// through which the queue is observed; nil without one.
	storage   *queueStorage
	telemetry *queueTelemetry
	log       *slog.Logger
	full      atomic.Bool // the logs queue refused the last batch
	logsID    string      // the logs exporter's component ID

	mu     sync.Mutex
	closed bool
	// stalled: a Flush found the collector away; Shutdown does not wait
	// for it again.
	stalled bool
	// final is the queue's state when the exporters stopped, reported by
	// Drops and QueueBytes from then on.
	final *queueSnapshot
}

type retryNote struct {
	msg string
	at  time.Time
}

var (
	_ Exporter      = (*OTLP)(nil)
	_ RetryReporter = (*OTLP)(nil)
	_ DropCounter   = (*OTLP)(nil)
	_ QueueReporter = (*OTLP)(nil)
	_ Flusher       = (*OTLP)(nil)
)

// NewOTLP builds and starts the exporters opts asks for. Connections are
// made in the background: an unreachable endpoint is not an error here but
// a failed (and retried) export later. Errors are configuration errors: a
// bad endpoint, an unreadable certificate file.
//
// With a persistent queue, what a previous run left in it is sent first;
// a queue that cannot be opened is an error wrapping ErrPersistentQueue.
func NewOTLP(ctx context.Context, opts OTLPOptions) (_ *OTLP, err error) {
	o := &OTLP{log: opts.Logger}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	defer func() {
		if err != nil {
			o.close(context.WithoutCancel(ctx))
		}
	}()
	host := exporterHost{}
	if q := opts.PersistentQueue; q != nil {
		core := &zapBridge{log: opts.Logger, prefix: "persistent queue: "}
		if o.storage, err = startQueueStorage(ctx, *q, zap.New(core)); err != nil {
			return nil, err
		}
		o.telemetry = newQueueTelemetry()
		host[storageID()] = o.storage
	}
	for signal, c := range map[string]*OTLPConfig{"logs": opts.Logs, "metrics": opts.Metrics} {
		if c != nil {
			b := c.Retry.backoff()
			host[reconnectID(signal)] = reconnect{maxDelay: b.MaxInterval}
			// The longest wait between two attempts (the interval with its
			// jitter) and the attempt itself, with room to spare.
			o.retryFresh = max(o.retryFresh, time.Duration(float64(b.MaxInterval)*(1+b.RandomizationFactor))+c.timeout()+5*time.Second)
		}
	}
	if opts.Logs != nil {
		set, factory, cfg, err := o.collectorConfig(*opts.Logs, "logs", opts)
		if err != nil {
			return nil, fmt.Errorf("otlp logs exporter: %w", err)
		}
		o.logsID = set.ID.String()
		if o.logs, err = factory.CreateLogs(ctx, set, cfg); err != nil {
			return nil, fmt.Errorf("otlp logs exporter: %w", err)
		}
		if err := o.logs.Start(ctx, host); err != nil {
			return nil, fmt.Errorf("otlp logs exporter: %w", err)
		}
	}
	if opts.Metrics != nil {
		set, factory, cfg, err := o.collectorConfig(*opts.Metrics, "metrics", opts)
		if err != nil {
			return nil, fmt.Errorf("otlp metrics exporter: %w", err)
		}
		if o.metrics, err = factory.CreateMetrics(ctx, set, cfg); err != nil {
			return nil, fmt.Errorf("otlp metrics exporter: %w", err)
		}
		if err := o.metrics.Start(ctx, host); err != nil {
			return nil, fmt.Errorf("otlp metrics exporter: %w", err)
		}
	}
	return o, nil
}

// collectorConfig translates c into the configuration of the Collector's
// otlp (gRPC) or otlphttp exporter, with the sending queue off — or on
// disk, when opts has a persistent queue. The logs exporter's partial
// successes are counted in o.rejected.
func (o *OTLP) collectorConfig(c OTLPConfig, signal string, opts OTLPOptions) (exporter.Settings, exporter.Factory, component.Config, error) {
	c.Timeout = c.timeout()
	compression := configcompression.Type("")
	switch c.Compression {
	case "", "none":
	case "gzip":
		compression = configcompression.TypeGzip
	default:
		return exporter.Settings{}, nil, nil, fmt.Errorf("compression %q: want gzip or none", c.Compression)
	}
	var headers configopaque.MapList
	for _, k := range slices.Sorted(maps.Keys(c.Headers)) {
		headers = append(headers, configopaque.Pair{Name: k, Value: configopaque.String(c.Headers[k])})
	}
	tls := configtls.NewDefaultClientConfig()
	tls.CAFile, tls.CertFile, tls.KeyFile = c.CAFile, c.CertFile, c.KeyFile
	if (c.CertFile == "") != (c.KeyFile == "") {
		return exporter.Settings{}, nil, nil, errors.New("a client certificate needs both a certificate file and a key file")
	}
	retry := c.Retry.backoff()
	queue := configoptional.None[exporterhelper.QueueBatchConfig]()
	if q := opts.PersistentQueue; q != nil {
		logsCap, metricsCap := q.capacities()
		if signal == "logs" {
			queue = q.queueConfig(logsCap)
		} else {
			queue = q.queueConfig(metricsCap)
		}
	}

	var factory exporter.Factory
	var cfg component.Config
	switch c.Protocol {
	case "", ProtocolGRPC:
		target, insecure, err := grpcTarget(c.Endpoint, c.Insecure)
		if err != nil {
			return exporter.Settings{}, nil, nil, err
		}
		factory = otlpexporter.NewFactory()
		gc := factory.CreateDefaultConfig().(*otlpexporter.Config)
		gc.QueueConfig = queue
		gc.RetryConfig = retry
		gc.TimeoutConfig.Timeout = c.Timeout
		gc.ClientConfig.Endpoint = target
		gc.ClientConfig.Compression = compression
		gc.ClientConfig.Headers = headers
		gc.ClientConfig.TLS = tls
		gc.ClientConfig.TLS.Insecure = insecure
		gc.ClientConfig.Middlewares = []configmiddleware.Config{{ID: reconnectID(signal)}}
		if err := gc.Validate(); err != nil {
			return exporter.Settings{}, nil, nil, fmt.Errorf("endpoint %q: %w", c.Endpoint, err)
		}
		if err := gc.ClientConfig.Validate(); err != nil {
			return exporter.Settings{}, nil, nil, fmt.Errorf("endpoint %q: %w", c.Endpoint, err)
		}
		cfg = gc
	case ProtocolHTTPProtobuf, ProtocolHTTPJSON:
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return exporter.Settings{}, nil, nil, fmt.Errorf("endpoint %q: want an http:// or https:// URL", c.Endpoint)
		}
		factory = otlphttpexporter.NewFactory()
		hc := factory.CreateDefaultConfig().(*otlphttpexporter.Config)
		hc.QueueConfig = queue
		hc.RetryConfig = retry
		hc.ClientConfig.Timeout = c.Timeout
		hc.ClientConfig.Compression = compression
		hc.ClientConfig.Headers = headers
		hc.ClientConfig.TLS = tls
		hc.Encoding = otlphttpexporter.EncodingProto
		if c.Protocol == ProtocolHTTPJSON {
			hc.Encoding = otlphttpexporter.EncodingJSON
		}
		if signal == "logs" {
			hc.LogsEndpoint = c.Endpoint
		} else {
			hc.MetricsEndpoint = c.Endpoint
		}
		cfg = hc
	default:
		return exporter.Settings{}, nil, nil, fmt.Errorf("protocol %q: want %s, %s or %s", c.Protocol, ProtocolGRPC, ProtocolHTTPProtobuf, ProtocolHTTPJSON)
	}

	var counter *atomic.Uint64
	if signal == "logs" {
		counter = &o.rejected
	}
	core := &zapBridge{log: opts.Logger, prefix: "otlp " + signal + " exporter: ", rejectedLogs: counter, queued: opts.PersistentQueue != nil,
		retrying: func(msg string) { o.retrying.Store(&retryNote{msg: msg, at: time.Now()}) }}
	var meters metric.MeterProvider = metricnoop.NewMeterProvider()
	if o.telemetry != nil {
		meters = o.telemetry.provider
	}
	set := exporter.Settings{
		ID: component.NewIDWithName(factory.Type(), signal),
		TelemetrySettings: component.TelemetrySettings{
			Logger:         zap.New(core),
			TracerProvider: tracenoop.NewTracerProvider(),
			MeterProvider:  meters,
			Resource:       pcommon.NewResource(),
		},
		BuildInfo: component.BuildInfo{Command: "otel-sensor", Description: "otel-sensor", Version: opts.Version},
	}
	return set, factory, cfg, nil
}

// grpcTarget splits a gRPC endpoint into the host:port to dial and whether
// to use plaintext, as the OpenTelemetry specification says: the scheme of
// a URL decides (http plaintext, https TLS); without a scheme, insecure
// does.
func grpcTarget(endpoint string, insecure bool) (string, bool, error) {
	if endpoint == "" {
		return "", false, errors.New("empty endpoint")
	}
	if !strings.Contains(endpoint, "://") {
		if _, _, err := net.SplitHostPort(endpoint); err != nil {
			return "", false, fmt.Errorf("endpoint %q: want host:port or an http:// or https:// URL", endpoint)
		}
		return endpoint, insecure, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return "", false, fmt.Errorf("endpoint %q: want host:port or an http:// or https:// URL", endpoint)
	}
	host := u.Host
	if u.Port() == "" {
		// The OTLP default port, as the SDKs assume.
		host = net.JoinHostPort(u.Hostname(), "4317")
	}
	switch u.Scheme {
	case "http":
		return host, true, nil
	case "https":
		return host, false, nil
	}
	return "", false, fmt.Errorf("endpoint %q: scheme %q: want http or https", endpoint, u.Scheme)
}

// timeout is the time an attempt may take: Timeout, or the default.
func (c OTLPConfig) timeout() time.Duration {
	if c.Timeout <= 0 {
		return DefaultOTLPTimeout
	}
	return c.Timeout
}

func (r RetryConfig) backoff() configretry.BackOffConfig {
	b := configretry.NewDefaultBackOffConfig()
	if r.Disabled {
		b.Enabled = false
		return b
	}
	if r.InitialInterval > 0 {
		b.InitialInterval = r.InitialInterval
	}
	if r.MaxInterval > 0 {
		b.MaxInterval = r.MaxInterval
	}
	switch {
	case r.MaxElapsedTime > 0:
		b.MaxElapsedTime = r.MaxElapsedTime
	case r.MaxElapsedTime < 0:
		b.MaxElapsedTime = 0 // exporterhelper: no limit
	}
	return b
}

// Retrying returns the error of the last failed attempt of either signal
// that was to be retried, and when it failed, as long as nothing says the
// data got through since: "" before any failure, after an export delivered
// later, and, with the persistent queue (whose exports return once on
// disk), once the queue is empty again.
func (o *OTLP) Retrying() (string, time.Time) {
	n := o.retrying.Load()
	if n == nil {
		return "", time.Time{}
	}
	if o.telemetry == nil {
		if o.delivered.Load() >= n.at.UnixNano() {
			return "", time.Time{}
		}
		return n.msg, n.at
	}
	// The queue's consumers give no word of a delivery: the failure is
	// history once the queue is empty, or once no attempt has failed for
	// longer than a retry takes (under load the queue is seldom empty).
	var queued int64
	for _, size := range o.snapshot().size {
		queued += size
	}
	if queued == 0 || time.Since(n.at) > o.retryFresh {
		return "", time.Time{}
	}
	return n.msg, n.at
}

// ExportLogs sends ld and returns once it was delivered, refused or given
// up on. An error wrapping ErrRejected means the receiver refused it.
//
// With a persistent queue it returns once ld is on disk; an error then
// wraps ErrPersistentQueueFull (no room) or ErrPersistentQueue (the write
// failed), and ld is dropped.
func (o *OTLP) ExportLogs(ctx context.Context, ld plog.Logs) error {
	if err := o.check(); err != nil {
		return err
	}
	if o.logs == nil || ld.LogRecordCount() == 0 {
		return nil
	}
	err := o.logs.ConsumeLogs(ctx, ld)
	if o.telemetry == nil {
		if err == nil {
			o.delivered.Store(time.Now().UnixNano())
		}
		return classify(err)
	}
	err = classifyQueued(err)
	// A full queue is counted per batch; the log says when it began and
	// ended, not every time.
	full := errors.Is(err, ErrPersistentQueueFull)
	if o.full.Swap(full) != full {
		if full {
			o.log.Warn("persistent queue full: dropping new events until the collector takes some")
		} else {
			o.log.Info("persistent queue has room again")
		}
	}
	return err
}

// ExportMetrics sends md like ExportLogs sends logs.
func (o *OTLP) ExportMetrics(ctx context.Context, md pmetric.Metrics) error {
	if err := o.check(); err != nil {
		return err
	}
	if o.metrics == nil || md.MetricCount() == 0 {
		return nil
	}
	err := o.metrics.ConsumeMetrics(ctx, md)
	if o.telemetry == nil {
		if err == nil {
			o.delivered.Store(time.Now().UnixNano())
		}
		return classify(err)
	}
	return classifyQueued(err)
}

func (o *OTLP) check() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return ErrShutdown
	}
	return nil
}

// classify marks the errors retrying cannot cure.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if consumererror.IsPermanent(err) {
		return fmt.Errorf("%w: %w", ErrRejected, err)
	}
	return err
}

// Drops reports the log records lost after an export returned nil, all
// without an event name (OTLP and the queue do not say which records):
// those receivers refused in partial successes (stage "export", reason
// "rejected"), and, with a persistent queue, the records its consumers
// gave up on — after the retries ran out ("export_failed") or because the
// receiver refused the batch ("rejected").
func (o *OTLP) Drops() []probes.Drop {
	var out []probes.Drop
	if n := o.rejected.Load(); n > 0 {
		out = append(out, probes.Drop{Stage: stageExport, Reason: reasonRejected, Count: n})
	}
	if o.telemetry != nil && o.logs != nil {
		out = append(out, o.snapshot().drops()...)
	}
	return out
}

// snapshot is the queue's state: read now, or as it was when the
// exporters stopped.
func (o *OTLP) snapshot() queueSnapshot {
	o.mu.Lock()
	final := o.final
	o.mu.Unlock()
	if final != nil {
		return *final
	}
	return o.telemetry.read(context.Background())
}

// QueueBytes reports the persistent queue of the logs: the bytes it holds
// (batches waiting or being sent) and its capacity; ok is false without
// one.
func (o *OTLP) QueueBytes() (size, capacity int64, ok bool) {
	if o.telemetry == nil || o.logs == nil {
		return 0, 0, false
	}
	s := o.snapshot()
	return s.size[o.logsID], s.capacity[o.logsID], true
}

// Flush waits, within ctx, for the persistent queue to be delivered: until
// it is empty, or it stops shrinking (the collector is away), or ctx's
// deadline nears. Without a persistent queue there is nothing to wait for:
// exports are synchronous.
func (o *OTLP) Flush(ctx context.Context) {
	if o.telemetry == nil || o.check() != nil {
		return
	}
	emptied := o.telemetry.drain(ctx)
	o.mu.Lock()
	o.stalled = !emptied
	o.mu.Unlock()
}

// Shutdown stops the exporters: a retry waiting for its next attempt gives
// up, and the connections are closed. It is idempotent.
//
// With a persistent queue it first waits, within ctx, for the queue to be
// delivered; it stops waiting when the queue stops shrinking (the
// collector is away), and what is left, including the batches whose
// retries it interrupts, stays on disk for the next start.
func (o *OTLP) Shutdown(ctx context.Context) error {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return nil
	}
	o.closed = true
	stalled := o.stalled
	o.mu.Unlock()
	if o.telemetry != nil && !stalled {
		o.telemetry.drain(ctx)
	}
	return o.close(ctx)
}

// close shuts down the exporters, then the storage their queues use.
func (o *OTLP) close(ctx context.Context) error {
	var errs []error
	if o.logs != nil {
		if err := o.logs.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("otlp logs exporter: %w", err))
		}
	}
	if o.metrics != nil {
		if err := o.metrics.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("otlp metrics exporter: %w", err))
		}
	}
	if o.telemetry != nil {
		final := o.telemetry.read(context.WithoutCancel(ctx))
		o.mu.Lock()
		o.final = &final
		o.mu.Unlock()
	}
	if o.storage != nil {
		if err := o.storage.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("persistent queue: %w", err))
		}
	}
	if o.telemetry != nil {
		if err := o.telemetry.shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("exporter telemetry: %w", err))
		}
	}
	return errors.Join(errs...)
}
