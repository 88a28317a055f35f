package config

import (
	"errors"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/otel-sensor/otel-sensor/internal/export/otlptest"
)

// Every standard variable sets its key; signal-specific ones set the
// signal's section.
func TestStandardEnvironmentVariables(t *testing.T) {
	// The certificate files are read at validation: real ones, the
	// signal's own different from the shared ones.
	shared, logsOwn := otlptest.NewCerts(t), otlptest.NewCerts(t)
	cfg, err := Load(Sources{Environ: []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=https://collector.example:4317",
		"OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
		"OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20abc , x-tenant = blue,,",
		"OTEL_EXPORTER_OTLP_COMPRESSION=gzip",
		"OTEL_EXPORTER_OTLP_TIMEOUT=2500",
		"OTEL_EXPORTER_OTLP_INSECURE=TRUE",
		"OTEL_EXPORTER_OTLP_CERTIFICATE=" + shared.CAFile,
		"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE=" + shared.ClientCert,
		"OTEL_EXPORTER_OTLP_CLIENT_KEY=" + shared.ClientKey,
		"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT=https://logs.example/custom/path",
		"OTEL_EXPORTER_OTLP_LOGS_PROTOCOL=http/protobuf",
		"OTEL_EXPORTER_OTLP_LOGS_HEADERS=x-tenant=red",
		"OTEL_EXPORTER_OTLP_LOGS_COMPRESSION=none",
		"OTEL_EXPORTER_OTLP_LOGS_TIMEOUT=700",
		"OTEL_EXPORTER_OTLP_LOGS_INSECURE=false",
		"OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE=" + logsOwn.CAFile,
		"OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE=" + logsOwn.ClientCert,
		"OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY=" + logsOwn.ClientKey,
		"OTEL_EXPORTER_OTLP_METRICS_TIMEOUT=1500",
		"OTEL_LOGS_EXPORTER=otlp",
		"OTEL_METRICS_EXPORTER=console",
		"OTEL_METRIC_EXPORT_INTERVAL=15000",
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Export.LogsExporter = "otlp"
	want.Export.MetricsExporter = "console"
	want.Export.MetricsInterval = 15 * time.Second
	want.OTLP.OTLPSettings = OTLPSettings{
		Endpoint:    "https://collector.example:4317",
		Protocol:    "grpc",
		Headers:     map[string]string{"Authorization": "Bearer abc", "x-tenant": "blue"},
		Compression: "gzip",
		Timeout:     2500 * time.Millisecond,
		Insecure:    new(true),
		CAFile:      shared.CAFile,
		CertFile:    shared.ClientCert,
		KeyFile:     shared.ClientKey,
	}
	want.OTLP.Logs = OTLPSettings{
		Endpoint:    "https://logs.example/custom/path",
		Protocol:    "http/protobuf",
		Headers:     map[string]string{"x-tenant": "red"},
		Compression: "none",
		Timeout:     700 * time.Millisecond,
		Insecure:    new(false),
		CAFile:      logsOwn.CAFile,
		CertFile:    logsOwn.ClientCert,
		KeyFile:     logsOwn.ClientKey,
	}
	want.OTLP.Metrics = OTLPSettings{Timeout: 1500 * time.Millisecond}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("got\n%+v\nwant\n%+v", cfg, want)
	}

	// The signal's own values win; the rest is inherited.
	logs, key := cfg.OTLPSignal(SignalLogs)
	if key != "otlp.logs.endpoint" || !reflect.DeepEqual(logs, want.OTLP.Logs) {
		t.Errorf("logs settings = %+v from %q", logs, key)
	}
	metrics, key := cfg.OTLPSignal(SignalMetrics)
	wantMetrics := want.OTLP.OTLPSettings
	wantMetrics.Timeout = 1500 * time.Millisecond
	if key != "otlp.endpoint" || !reflect.DeepEqual(metrics, wantMetrics) {
		t.Errorf("metrics settings = %+v from %q", metrics, key)
	}
}

// An empty variable counts as unset.
func TestStandardEnvironmentEmptyIsUnset(t *testing.T) {
	cfg, err := Load(Sources{Environ: []string{"OTEL_EXPORTER_OTLP_ENDPOINT=", "OTEL_EXPORTER_OTLP_TIMEOUT= "}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, Default()) {
		t.Fatalf("got %+v", cfg)
	}
}

func TestOTLPEndpointResolution(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     []string
		signal  string
		want    string
		wantKey string
	}{
		{"grpc default", nil, SignalLogs, "http://localhost:4317", ""},
		{"http default", []string{"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf"}, SignalLogs, "http://localhost:4318/v1/logs", ""},
		{"http default metrics", []string{"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf"}, SignalMetrics, "http://localhost:4318/v1/metrics", ""},
		{"grpc generic as is", []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://c:4317/"}, SignalLogs, "http://c:4317/", "otlp.endpoint"},
		{"http generic gets the path", []string{"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf", "OTEL_EXPORTER_OTLP_ENDPOINT=http://c:4318"}, SignalLogs, "http://c:4318/v1/logs", "otlp.endpoint"},
		{"http generic with trailing slash", []string{"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf", "OTEL_EXPORTER_OTLP_ENDPOINT=http://c:4318/base/"}, SignalMetrics, "http://c:4318/base/v1/metrics", "otlp.endpoint"},
		{"http signal-specific as is", []string{"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf", "OTEL_EXPORTER_OTLP_ENDPOINT=http://c:4318", "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT=http://l:4318/ingest"}, SignalLogs, "http://l:4318/ingest", "otlp.logs.endpoint"},
		{"signal-specific protocol decides the path", []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://c:4318", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL=http/json"}, SignalMetrics, "http://c:4318/v1/metrics", "otlp.endpoint"},
		{"other signal's endpoint does not apply", []string{"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT=http://l:4317"}, SignalMetrics, "http://localhost:4317", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load(Sources{Environ: tc.env})
			if err != nil {
				t.Fatal(err)
			}
			s, key := cfg.OTLPSignal(tc.signal)
			if s.Endpoint != tc.want || key != tc.wantKey {
				t.Fatalf("endpoint %q from %q, want %q from %q", s.Endpoint, key, tc.want, tc.wantKey)
			}
		})
	}
}

func TestExporterChoice(t *testing.T) {
	for _, tc := range []struct {
		name          string
		src           Sources
		logs, metrics string
	}{
		{"nothing configured: console", Sources{}, "console", "console"},
		{"generic endpoint: otlp", Sources{Environ: []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://c:4317"}}, "otlp", "otlp"},
		{"endpoint in the file", Sources{File: writeFile(t, "otlp:\n  endpoint: http://c:4317\n")}, "otlp", "otlp"},
		{"endpoint flag", Sources{Flags: []Flag{{Name: "--otlp-endpoint", Key: "otlp.endpoint", Value: "c:4317"}}}, "otlp", "otlp"},
		{"logs endpoint only: metrics to console", Sources{Environ: []string{"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT=http://c:4317"}}, "otlp", "console"},
		{"metrics endpoint only", Sources{Environ: []string{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=http://c:4317"}}, "console", "otlp"},
		{"console kept with an endpoint", Sources{Environ: []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://c:4317", "OTEL_LOGS_EXPORTER=console"}}, "console", "otlp"},
		{"otlp to the default endpoint", Sources{Environ: []string{"OTEL_LOGS_EXPORTER=otlp"}}, "otlp", "otlp"},
		{"none", Sources{Environ: []string{"OTEL_LOGS_EXPORTER=none", "OTEL_METRICS_EXPORTER=none"}}, "none", "none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.LogsExporter(); got != tc.logs {
				t.Errorf("logs exporter %q, want %q", got, tc.logs)
			}
			if got := cfg.MetricsExporter(); got != tc.metrics {
				t.Errorf("metrics exporter %q, want %q", got, tc.metrics)
			}
		})
	}
}

// Standard variables override the file; OTEL_SENSOR_* variables and flags
// override them.
func TestOTLPPrecedence(t *testing.T) {
	file := writeFile(t, "otlp:\n  endpoint: http://file:4317\n  timeout: 3s\n  compression: gzip\n  headers:\n    x-from: file\n    x-file-only: yes\n")
	env := []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://std:4317",
		"OTEL_EXPORTER_OTLP_TIMEOUT=4000",
		"OTEL_EXPORTER_OTLP_HEADERS=x-from=std",
		"OTEL_SENSOR_OTLP__TIMEOUT=5s",
	}
	cfg, err := Load(Sources{File: file, Environ: env})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OTLP.Endpoint != "http://std:4317" || cfg.OTLP.Timeout != 5*time.Second || cfg.OTLP.Compression != "gzip" {
		t.Errorf("endpoint %q timeout %s compression %q", cfg.OTLP.Endpoint, cfg.OTLP.Timeout, cfg.OTLP.Compression)
	}
	// A map given whole replaces the one below it.
	if !maps.Equal(cfg.OTLP.Headers, map[string]string{"x-from": "std"}) {
		t.Errorf("headers %v", cfg.OTLP.Headers)
	}
	cfg, err = Load(Sources{File: file, Environ: env, Flags: []Flag{{Name: "--otlp-endpoint", Key: "otlp.endpoint", Value: "http://flag:4317"}}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OTLP.Endpoint != "http://flag:4317" {
		t.Errorf("endpoint %q, want the flag's", cfg.OTLP.Endpoint)
	}
}

func TestHeadersFromEachSource(t *testing.T) {
	cfg, err := Load(Sources{File: writeFile(t, "otlp:\n  logs:\n    headers:\n      Authorization: Bearer x\n")})
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(cfg.OTLP.Logs.Headers, map[string]string{"Authorization": "Bearer x"}) {
		t.Errorf("file: %v", cfg.OTLP.Logs.Headers)
	}
	cfg, err = Load(Sources{Environ: []string{"OTEL_SENSOR_OTLP__HEADERS=a=1,b=%2C"}})
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(cfg.OTLP.Headers, map[string]string{"a": "1", "b": ","}) {
		t.Errorf("OTEL_SENSOR_OTLP__HEADERS: %v", cfg.OTLP.Headers)
	}
	cfg, err = Load(Sources{Environ: []string{"OTEL_SENSOR_OTLP__HEADERS__X_TOKEN=t"}})
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(cfg.OTLP.Headers, map[string]string{"x_token": "t"}) {
		t.Errorf("OTEL_SENSOR_OTLP__HEADERS__X_TOKEN: %v", cfg.OTLP.Headers)
	}
}

func TestParseHeaders(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want map[string]string
	}{
		{"", map[string]string{}},
		{"a=b", map[string]string{"a": "b"}},
		{" a = b , c=d ", map[string]string{"a": "b", "c": "d"}},
		{"api-key=x%3Dy%2Cz", map[string]string{"api-key": "x=y,z"}},
		{"auth=Basic dXNlcjpwYXNz==", map[string]string{"auth": "Basic dXNlcjpwYXNz=="}},
		{"a=,b=1", map[string]string{"a": "", "b": "1"}},
	} {
		got, err := ParseHeaders(tc.in)
		if err != nil || !maps.Equal(got, tc.want) {
			t.Errorf("ParseHeaders(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"novalue", "=v", "bad key=v", "a=%zz", "a b=c"} {
		if got, err := ParseHeaders(in); err == nil {
			t.Errorf("ParseHeaders(%q) = %v, want an error", in, got)
		}
	}
}

func FuzzParseHeaders(f *testing.F) {
	for _, s := range []string{"a=b", "a=b,c=d", " k = v%20w ", "x", "=", "a=%", ",,,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHeaders(s)
		if err != nil {
			return
		}
		for k := range h {
			if !validHeaderName(k) {
				t.Fatalf("ParseHeaders(%q) gave header name %q", s, k)
			}
		}
	})
}

func TestOTLPErrorsNameKeyAndSource(t *testing.T) {
	certs := otlptest.NewCerts(t)
	notPEM := writeFile(t, "not a certificate\n")
	for _, tc := range []struct {
		name   string
		src    Sources
		key    string
		source string
	}{
		{"timeout not in milliseconds", Sources{Environ: []string{"OTEL_EXPORTER_OTLP_TIMEOUT=5s"}}, "otlp.timeout", "environment variable OTEL_EXPORTER_OTLP_TIMEOUT"},
		{"unknown protocol", Sources{Environ: []string{"OTEL_EXPORTER_OTLP_PROTOCOL=http"}}, "otlp.protocol", "environment variable OTEL_EXPORTER_OTLP_PROTOCOL"},
		{"unknown logs protocol", Sources{Environ: []string{"OTEL_EXPORTER_OTLP_LOGS_PROTOCOL=udp"}}, "otlp.logs.protocol", "environment variable OTEL_EXPORTER_OTLP_LOGS_PROTOCOL"},
		{"insecure not a boolean", Sources{Environ: []string{"OTEL_EXPORTER_OTLP_INSECURE=yes"}}, "otlp.insecure", "environment variable OTEL_EXPORTER_OTLP_INSECURE"},
		{"bad headers", Sources{Environ: []string{"OTEL_EXPORTER_OTLP_HEADERS=token"}}, "otlp.headers", "environment variable OTEL_EXPORTER_OTLP_HEADERS"},
		{"unknown compression", Sources{Environ: []string{"OTEL_EXPORTER_OTLP_METRICS_COMPRESSION=zstd"}}, "otlp.metrics.compression", "environment variable OTEL_EXPORTER_OTLP_METRICS_COMPRESSION"},
		{"exporter list", Sources{Environ: []string{"OTEL_LOGS_EXPORTER=otlp,console"}}, "export.logs_exporter", "environment variable OTEL_LOGS_EXPORTER"},
		{"unknown exporter", Sources{Environ: []string{"OTEL_METRICS_EXPORTER=prometheus"}}, "export.metrics_exporter", "environment variable OTEL_METRICS_EXPORTER"},
		{"bad protocol in file", Sources{File: writeFile(t, "otlp:\n  protocol: udp\n")}, "otlp.protocol", "effective configuration"},
		{"bad exporter in file", Sources{File: writeFile(t, "export:\n  logs_exporter: stdout\n")}, "export.logs_exporter", "effective configuration"},
		{"unknown otlp key", Sources{File: writeFile(t, "otlp:\n  endpoints: x\n")}, "otlp.endpoints", "file "},
		{"http endpoint without scheme", Sources{Environ: []string{"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf", "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT=collector:4318"}}, "otlp.logs.endpoint", "effective configuration"},
		{"grpc endpoint without port", Sources{Flags: []Flag{{Name: "--otlp-endpoint", Key: "otlp.endpoint", Value: "collector"}}}, "otlp.endpoint", "effective configuration"},
		{"certificate without key", Sources{Environ: []string{"OTEL_EXPORTER_OTLP_ENDPOINT=https://c:4317", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE=/c.pem"}}, "otlp.cert_file", "effective configuration"},
		{"missing CA file", Sources{Environ: []string{"OTEL_EXPORTER_OTLP_ENDPOINT=https://c:4317", "OTEL_EXPORTER_OTLP_CERTIFICATE=/nonexistent/ca.pem"}}, "otlp.ca_file", "effective configuration; value from environment variable OTEL_EXPORTER_OTLP_CERTIFICATE"},
		{"CA file without a certificate", Sources{Environ: []string{"OTEL_EXPORTER_OTLP_ENDPOINT=https://c:4317", "OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE=" + notPEM}}, "otlp.logs.ca_file", "effective configuration; value from environment variable OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE"},
		{"client key of another certificate", Sources{Environ: []string{"OTEL_EXPORTER_OTLP_ENDPOINT=https://c:4317", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE=" + certs.ClientCert, "OTEL_EXPORTER_OTLP_CLIENT_KEY=" + certs.ServerKey}}, "otlp.cert_file", "effective configuration"},
		{"client certificate not PEM", Sources{File: writeFile(t, "otlp:\n  endpoint: https://c:4317\n  cert_file: "+notPEM+"\n  key_file: "+certs.ClientKey+"\n")}, "otlp.cert_file", "effective configuration"},
		{"output with nothing on the console", Sources{Environ: []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://c:4317"}, Flags: []Flag{{Name: "--output", Key: "output", Value: "/tmp/x"}}}, "output", "effective configuration"},
		{"retry max below initial", Sources{Environ: []string{"OTEL_SENSOR_OTLP__RETRY__MAX_INTERVAL=1s"}}, "otlp.retry.max_interval", "effective configuration"},
		{"bad header name in file", Sources{File: writeFile(t, "otlp:\n  headers:\n    \"a b\": c\n")}, "otlp.headers", "effective configuration"},
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
		})
	}
}

// Console output to a file is fine as long as a signal goes there.
func TestOutputWithMetricsOnTheConsole(t *testing.T) {
	cfg, err := Load(Sources{
		Environ: []string{"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT=http://c:4317"},
		Flags:   []Flag{{Name: "--output", Key: "output", Value: "/tmp/metrics.jsonl"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LogsExporter() != "otlp" || cfg.MetricsExporter() != "console" {
		t.Fatalf("logs %s metrics %s", cfg.LogsExporter(), cfg.MetricsExporter())
	}
}
