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
}

// OTLP exports logs and metrics over OTLP/gRPC or OTLP/HTTP. It drives the
// OpenTelemetry Collector's own otlp and otlphttp exporters: their
// transport (TLS, headers, compression, timeouts) and their retry with
// exponential backoff. Exports are synchronous — an export returns once
// the data was delivered, refused or given up on — so the Pipeline's queue
// is the only queue and its counts stay exact.
type OTLP struct {
	logs    exporter.Logs    // nil when logs are not exported
	metrics exporter.Metrics // nil when metrics are not exported

	rejected atomic.Uint64 // log records refused in partial successes

	mu     sync.Mutex
	closed bool
}

var (
	_ Exporter    = (*OTLP)(nil)
	_ DropCounter = (*OTLP)(nil)
)

// NewOTLP builds and starts the exporters opts asks for. Connections are
// made in the background: an unreachable endpoint is not an error here but
// a failed (and retried) export later. Errors are configuration errors: a
// bad endpoint, an unreadable certificate file.
func NewOTLP(ctx context.Context, opts OTLPOptions) (_ *OTLP, err error) {
	o := &OTLP{}
	defer func() {
		if err != nil {
			o.Shutdown(context.WithoutCancel(ctx))
		}
	}()
	if opts.Logs != nil {
		set, factory, cfg, err := o.collectorConfig(*opts.Logs, "logs", opts)
		if err != nil {
			return nil, fmt.Errorf("otlp logs exporter: %w", err)
		}
		if o.logs, err = factory.CreateLogs(ctx, set, cfg); err != nil {
			return nil, fmt.Errorf("otlp logs exporter: %w", err)
		}
		if err := o.logs.Start(ctx, nopHost{}); err != nil {
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
		if err := o.metrics.Start(ctx, nopHost{}); err != nil {
			return nil, fmt.Errorf("otlp metrics exporter: %w", err)
		}
	}
	return o, nil
}

// collectorConfig translates c into the configuration of the Collector's
// otlp (gRPC) or otlphttp exporter, with the sending queue off. The logs
// exporter's partial successes are counted in o.rejected.
func (o *OTLP) collectorConfig(c OTLPConfig, signal string, opts OTLPOptions) (exporter.Settings, exporter.Factory, component.Config, error) {
	if c.Timeout <= 0 {
		c.Timeout = DefaultOTLPTimeout
	}
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
		gc.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
		gc.RetryConfig = retry
		gc.TimeoutConfig.Timeout = c.Timeout
		gc.ClientConfig.Endpoint = target
		gc.ClientConfig.Compression = compression
		gc.ClientConfig.Headers = headers
		gc.ClientConfig.TLS = tls
		gc.ClientConfig.TLS.Insecure = insecure
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
		hc.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
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
	core := &zapBridge{log: opts.Logger, prefix: "otlp " + signal + " exporter: ", rejectedLogs: counter}
	set := exporter.Settings{
		ID: component.NewIDWithName(factory.Type(), signal),
		TelemetrySettings: component.TelemetrySettings{
			Logger:         zap.New(core),
			TracerProvider: tracenoop.NewTracerProvider(),
			MeterProvider:  metricnoop.NewMeterProvider(),
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

// ExportLogs sends ld and returns once it was delivered, refused or given
// up on. An error wrapping ErrRejected means the receiver refused it.
func (o *OTLP) ExportLogs(ctx context.Context, ld plog.Logs) error {
	if err := o.check(); err != nil {
		return err
	}
	if o.logs == nil || ld.LogRecordCount() == 0 {
		return nil
	}
	return classify(o.logs.ConsumeLogs(ctx, ld))
}

// ExportMetrics sends md like ExportLogs sends logs.
func (o *OTLP) ExportMetrics(ctx context.Context, md pmetric.Metrics) error {
	if err := o.check(); err != nil {
		return err
	}
	if o.metrics == nil || md.MetricCount() == 0 {
		return nil
	}
	return classify(o.metrics.ConsumeMetrics(ctx, md))
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

// Drops reports the log records receivers refused in partial successes
// (stage "export", reason "rejected"): the export succeeded, so the
// Pipeline did not count them. OTLP does not say which records, so the
// series has no event name.
func (o *OTLP) Drops() []probes.Drop {
	n := o.rejected.Load()
	if n == 0 {
		return nil
	}
	return []probes.Drop{{Stage: stageExport, Reason: reasonRejected, Count: n}}
}

// Shutdown stops the exporters: a retry waiting for its next attempt gives
// up, and the connections are closed. It is idempotent.
func (o *OTLP) Shutdown(ctx context.Context) error {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return nil
	}
	o.closed = true
	o.mu.Unlock()
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
	return errors.Join(errs...)
}

// nopHost is the component.Host of exporters that use no extensions.
type nopHost struct{}

func (nopHost) GetExtensions() map[component.ID]component.Component { return nil }
