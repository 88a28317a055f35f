package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Exporter choices of export.logs_exporter and export.metrics_exporter.
const (
	ExporterAuto    = "auto"
	ExporterOTLP    = "otlp"
	ExporterConsole = "console"
	ExporterNone    = "none"
)

// OTLP protocols.
const (
	ProtocolGRPC         = "grpc"
	ProtocolHTTPProtobuf = "http/protobuf"
	ProtocolHTTPJSON     = "http/json"
)

// Signals with settings of their own under otlp.
const (
	SignalLogs    = "logs"
	SignalMetrics = "metrics"
)

// OTLP configures export over OTLP. The settings at its top level apply to
// both signals; those under logs and metrics, where set, override them for
// one signal (as OTEL_EXPORTER_OTLP_LOGS_* override OTEL_EXPORTER_OTLP_*).
type OTLP struct {
	OTLPSettings `koanf:",squash"`
	Logs         OTLPSettings `koanf:"logs"`
	Metrics      OTLPSettings `koanf:"metrics"`
	Retry        Retry        `koanf:"retry"`
}

// OTLPSettings are the settings of an OTLP exporter. In a signal's own
// section an empty value (nil for Insecure and Headers) means "as the
// top level says".
type OTLPSettings struct {
	// Endpoint: at the top level, the base: host:port or a URL for gRPC, a
	// URL to which /v1/logs or /v1/metrics is added for HTTP. In a signal's
	// section, used as is (for HTTP the full URL).
	Endpoint string `koanf:"endpoint"`
	// Protocol is grpc, http/protobuf or http/json.
	Protocol string `koanf:"protocol"`
	// Headers are sent with every request.
	Headers map[string]string `koanf:"headers"`
	// Compression is gzip or none.
	Compression string `koanf:"compression"`
	// Timeout bounds one export attempt.
	Timeout time.Duration `koanf:"timeout"`
	// Insecure makes a gRPC endpoint without http:// or https:// use
	// plaintext.
	Insecure *bool `koanf:"insecure"`
	// CAFile verifies the server (default: the system's roots); CertFile
	// and KeyFile are the client's certificate for mutual TLS.
	CAFile   string `koanf:"ca_file"`
	CertFile string `koanf:"cert_file"`
	KeyFile  string `koanf:"key_file"`
}

// Retry is the backoff of OTLP exports that failed in a retryable way.
type Retry struct {
	Enabled         bool          `koanf:"enabled"`
	InitialInterval time.Duration `koanf:"initial_interval"`
	MaxInterval     time.Duration `koanf:"max_interval"`
	// MaxElapsedTime ends the retries of one export; 0 means never.
	MaxElapsedTime time.Duration `koanf:"max_elapsed_time"`
}

// Default OTLP endpoints, as the OpenTelemetry specification gives them.
const (
	DefaultGRPCEndpoint = "http://localhost:4317"
	DefaultHTTPEndpoint = "http://localhost:4318"
)

// endpointConfigured reports whether an endpoint was set for signal, at
// the top level or in its own section.
func (c Config) endpointConfigured(signal string) bool {
	return c.OTLP.Endpoint != "" || c.OTLP.signal(signal).Endpoint != ""
}

func (o OTLP) signal(signal string) OTLPSettings {
	if signal == SignalMetrics {
		return o.Metrics
	}
	return o.Logs
}

// LogsExporter is where events go: otlp, console or none. auto means otlp
// when an OTLP endpoint is configured for logs, else console.
func (c Config) LogsExporter() string {
	if c.Export.LogsExporter != ExporterAuto {
		return c.Export.LogsExporter
	}
	if c.endpointConfigured(SignalLogs) {
		return ExporterOTLP
	}
	return ExporterConsole
}

// MetricsExporter is where the sensor's metrics go: otlp, console or none.
// auto means otlp when an endpoint is configured for metrics (otlp.endpoint
// or otlp.metrics.endpoint), or when the events go to OTLP at its default
// endpoint; otherwise console — so the metrics are never lost for want
// of an endpoint, e.g. when only otlp.logs.endpoint is set.
func (c Config) MetricsExporter() string {
	if c.Export.MetricsExporter != ExporterAuto {
		return c.Export.MetricsExporter
	}
	if c.endpointConfigured(SignalMetrics) ||
		(c.LogsExporter() == ExporterOTLP && !c.endpointConfigured(SignalLogs)) {
		return ExporterOTLP
	}
	return ExporterConsole
}

// OTLPSignal returns the effective OTLP settings of signal (SignalLogs or
// SignalMetrics): the signal's own values over the top-level ones, and the
// endpoint completed as the OpenTelemetry specification says — for HTTP a
// top-level endpoint gets /v1/<signal> appended while a signal's own is
// used as is; with none, the default endpoint of the protocol. Insecure is
// never nil. EndpointKey is the key the endpoint came from ("" for the
// default).
func (c Config) OTLPSignal(signal string) (s OTLPSettings, endpointKey string) {
	s = c.OTLP.OTLPSettings
	own := c.OTLP.signal(signal)
	if own.Protocol != "" {
		s.Protocol = own.Protocol
	}
	if own.Headers != nil {
		s.Headers = own.Headers
	}
	if own.Compression != "" {
		s.Compression = own.Compression
	}
	if own.Timeout != 0 {
		s.Timeout = own.Timeout
	}
	if own.Insecure != nil {
		s.Insecure = own.Insecure
	}
	if s.Insecure == nil {
		s.Insecure = new(false)
	}
	if own.CAFile != "" {
		s.CAFile = own.CAFile
	}
	if own.CertFile != "" {
		s.CertFile = own.CertFile
	}
	if own.KeyFile != "" {
		s.KeyFile = own.KeyFile
	}
	grpc := s.Protocol == ProtocolGRPC
	switch {
	case own.Endpoint != "":
		s.Endpoint, endpointKey = own.Endpoint, "otlp."+signal+".endpoint"
	case s.Endpoint != "":
		endpointKey = "otlp.endpoint"
		if !grpc {
			s.Endpoint = appendSignalPath(s.Endpoint, signal)
		}
	case grpc:
		s.Endpoint = DefaultGRPCEndpoint
	default:
		s.Endpoint = appendSignalPath(DefaultHTTPEndpoint, signal)
	}
	return s, endpointKey
}

// appendSignalPath adds v1/<signal> to a base URL's path.
func appendSignalPath(base, signal string) string {
	if strings.HasSuffix(base, "/") {
		return base + "v1/" + signal
	}
	return base + "/v1/" + signal
}

// validateOutputs checks the exporter choices and the OTLP settings of
// the signals exported over OTLP.
func (c Config) validateOutputs() error {
	bad := func(key, format string, args ...any) error {
		return &Error{Key: key, Source: "effective configuration", Err: fmt.Errorf(format, args...)}
	}
	exporters := []string{ExporterAuto, ExporterOTLP, ExporterConsole, ExporterNone}
	if !slices.Contains(exporters, c.Export.LogsExporter) {
		return bad("export.logs_exporter", "must be auto, otlp, console or none, not %q", c.Export.LogsExporter)
	}
	if !slices.Contains(exporters, c.Export.MetricsExporter) {
		return bad("export.metrics_exporter", "must be auto, otlp, console or none, not %q", c.Export.MetricsExporter)
	}
	for _, sec := range []struct {
		prefix string
		s      OTLPSettings
		top    bool
	}{{"otlp.", c.OTLP.OTLPSettings, true}, {"otlp.logs.", c.OTLP.Logs, false}, {"otlp.metrics.", c.OTLP.Metrics, false}} {
		if (sec.top || sec.s.Protocol != "") && !slices.Contains([]string{ProtocolGRPC, ProtocolHTTPProtobuf, ProtocolHTTPJSON}, sec.s.Protocol) {
			return bad(sec.prefix+"protocol", "must be grpc, http/protobuf or http/json, not %q", sec.s.Protocol)
		}
		if (sec.top || sec.s.Compression != "") && !slices.Contains([]string{"gzip", "none"}, sec.s.Compression) {
			return bad(sec.prefix+"compression", "must be gzip or none, not %q", sec.s.Compression)
		}
		if sec.s.Timeout < 0 || (sec.top && sec.s.Timeout == 0) {
			return bad(sec.prefix+"timeout", "must be positive, not %s", sec.s.Timeout)
		}
		for k := range sec.s.Headers {
			if !validHeaderName(k) {
				return bad(sec.prefix+"headers", "%q is not a valid header name", k)
			}
		}
	}
	r := c.OTLP.Retry
	if r.Enabled {
		if r.InitialInterval <= 0 {
			return bad("otlp.retry.initial_interval", "must be positive, not %s", r.InitialInterval)
		}
		if r.MaxInterval < r.InitialInterval {
			return bad("otlp.retry.max_interval", "must be at least otlp.retry.initial_interval (%s), not %s", r.InitialInterval, r.MaxInterval)
		}
		if r.MaxElapsedTime < 0 {
			return bad("otlp.retry.max_elapsed_time", "must be 0 (no limit) or positive, not %s", r.MaxElapsedTime)
		}
	}

	console := false
	for _, signal := range []string{SignalLogs, SignalMetrics} {
		exporter := c.LogsExporter()
		if signal == SignalMetrics {
			exporter = c.MetricsExporter()
		}
		if exporter == ExporterConsole {
			console = true
		}
		if exporter != ExporterOTLP {
			continue
		}
		s, key := c.OTLPSignal(signal)
		if key == "" {
			key = "otlp.endpoint"
		}
		if err := checkEndpoint(s.Protocol, s.Endpoint); err != nil {
			return bad(key, "%v", err)
		}
		if (s.CertFile == "") != (s.KeyFile == "") {
			return bad("otlp.cert_file", "a client certificate for %s needs both cert_file and key_file", signal)
		}
		if err := c.checkTLSFiles(signal, s, bad); err != nil {
			return err
		}
	}
	if c.Output != "" && !console {
		return bad("output", "is set (%s) but nothing is written to the console: events go to %s, metrics to %s", c.Output, c.LogsExporter(), c.MetricsExporter())
	}
	return nil
}

// checkTLSFiles reads the certificate files s names for signal, as the
// exporter will, so that a file that is missing, unreadable or not what it
// should be is a configuration error naming its key (otlp.ca_file, or
// otlp.logs.ca_file when the signal has its own).
func (c Config) checkTLSFiles(signal string, s OTLPSettings, bad func(key, format string, args ...any) error) error {
	own := c.OTLP.signal(signal)
	key := func(name, ownValue string) string {
		if ownValue != "" {
			return "otlp." + signal + "." + name
		}
		return "otlp." + name
	}
	if s.CAFile != "" {
		b, err := os.ReadFile(s.CAFile)
		if err != nil {
			return bad(key("ca_file", own.CAFile), "%v", err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(b) {
			return bad(key("ca_file", own.CAFile), "%s holds no PEM certificate", s.CAFile)
		}
	}
	if s.CertFile != "" && s.KeyFile != "" {
		if _, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile); err != nil {
			return bad(key("cert_file", own.CertFile), "%s and key_file %s: %v", s.CertFile, s.KeyFile, err)
		}
	}
	return nil
}

// checkEndpoint checks an effective endpoint the way the exporter will
// read it.
func checkEndpoint(protocol, endpoint string) error {
	if protocol == ProtocolGRPC && !strings.Contains(endpoint, "://") {
		if _, port, err := net.SplitHostPort(endpoint); err != nil || port == "" {
			return fmt.Errorf("%q: want host:port or an http:// or https:// URL", endpoint)
		}
		return nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q: want an http:// or https:// URL", endpoint)
	}
	return nil
}

// validHeaderName reports whether name is an HTTP token (RFC 9110), as
// header names and gRPC metadata keys must be.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// ParseHeaders parses headers written as OTEL_EXPORTER_OTLP_HEADERS is: a
// comma-separated list of key=value, the W3C Baggage format without
// properties. Keys and values are trimmed of spaces; values are
// percent-decoded; empty entries are skipped. A missing '=', a key that is
// not a header name, or bad percent-encoding is an error.
func ParseHeaders(s string) (map[string]string, error) {
	headers := map[string]string{}
	for entry := range strings.SplitSeq(s, ",") {
		if strings.TrimSpace(entry) == "" {
			continue
		}
		k, v, ok := strings.Cut(entry, "=")
		if !ok {
			return nil, fmt.Errorf("entry %q: missing '='", entry)
		}
		k = strings.TrimSpace(k)
		if !validHeaderName(k) {
			return nil, fmt.Errorf("entry %q: %q is not a valid header name", entry, k)
		}
		value, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("entry %q: bad percent-encoding: %w", entry, err)
		}
		headers[k] = value
	}
	return headers, nil
}

// envVar is one of the OpenTelemetry SDK's environment variables: the key
// it sets and how its value is read.
type envVar struct {
	name, key string
	parse     func(string) (any, error)
}

// standardEnv lists the standard variables the sensor reads, generic
// before signal-specific (docs/configuration.md has the table).
func standardEnv() []envVar {
	vars := []envVar{
		{"OTEL_LOGS_EXPORTER", "export.logs_exporter", parseExporter},
		{"OTEL_METRICS_EXPORTER", "export.metrics_exporter", parseExporter},
		{"OTEL_METRIC_EXPORT_INTERVAL", "export.metrics_interval", parseMillis},
	}
	for _, sig := range []struct{ env, key string }{{"", "otlp."}, {"LOGS_", "otlp.logs."}, {"METRICS_", "otlp.metrics."}} {
		p := "OTEL_EXPORTER_OTLP_" + sig.env
		vars = append(vars,
			envVar{p + "ENDPOINT", sig.key + "endpoint", parseString},
			envVar{p + "PROTOCOL", sig.key + "protocol", parseOneOf(ProtocolGRPC, ProtocolHTTPProtobuf, ProtocolHTTPJSON)},
			envVar{p + "HEADERS", sig.key + "headers", func(v string) (any, error) { return ParseHeaders(v) }},
			envVar{p + "COMPRESSION", sig.key + "compression", parseOneOf("gzip", "none")},
			envVar{p + "TIMEOUT", sig.key + "timeout", parseMillis},
			envVar{p + "INSECURE", sig.key + "insecure", parseBool},
			envVar{p + "CERTIFICATE", sig.key + "ca_file", parseString},
			envVar{p + "CLIENT_CERTIFICATE", sig.key + "cert_file", parseString},
			envVar{p + "CLIENT_KEY", sig.key + "key_file", parseString},
		)
	}
	return vars
}

func parseString(v string) (any, error) { return v, nil }

// parseMillis reads an integer number of milliseconds.
func parseMillis(v string) (any, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("%q: want a non-negative integer number of milliseconds", v)
	}
	return time.Duration(n) * time.Millisecond, nil
}

// parseBool reads true or false, in any case, as the specification's
// boolean variables are written. Anything else is refused rather than
// read as false.
func parseBool(v string) (any, error) {
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return nil, fmt.Errorf("%q: want true or false", v)
}

func parseOneOf(values ...string) func(string) (any, error) {
	return func(v string) (any, error) {
		if !slices.Contains(values, v) {
			return nil, fmt.Errorf("%q: want one of %s", v, strings.Join(values, ", "))
		}
		return v, nil
	}
}

// parseExporter reads OTEL_LOGS_EXPORTER / OTEL_METRICS_EXPORTER. The
// specification allows a list; the sensor sends each signal to one place.
func parseExporter(v string) (any, error) {
	if strings.Contains(v, ",") {
		return nil, fmt.Errorf("%q: only one exporter per signal is supported (otlp, console or none)", v)
	}
	return parseOneOf(ExporterOTLP, ExporterConsole, ExporterNone)(strings.TrimSpace(v))
}

// applyStandardEnv applies the standard variables set in environ with set.
// An empty value counts as unset, as the specification says.
func applyStandardEnv(environ []string, set func(key string, value any, source string) error) error {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	for _, ev := range standardEnv() {
		raw := strings.TrimSpace(env[ev.name])
		if raw == "" {
			continue
		}
		source := "environment variable " + ev.name
		value, err := ev.parse(raw)
		if err != nil {
			return &Error{Key: ev.key, Source: source, Err: err}
		}
		if err := set(ev.key, value, source); err != nil {
			return err
		}
	}
	return nil
}
