package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otel-sensor/otel-sensor/internal/export/otlptest"
	"github.com/otel-sensor/otel-sensor/internal/kerneltest"
)

// The sensor, configured only through the standard OTEL_* variables,
// exports to the Collector's own OTLP receiver: a command run in another
// process arrives as a process.exec record with its EventName, attributes
// and resource, and the metrics follow — over gRPC and over HTTP, in
// plaintext and over mutual TLS with a required header.
func TestRunExportsOverOTLP(t *testing.T) {
	kerneltest.Require(t)
	bin := buildSensor(t)
	certs := otlptest.NewCerts(t)
	for _, tc := range []struct {
		name     string
		protocol string
		secure   bool
	}{
		{"grpc", "grpc", false},
		{"http", "http/protobuf", false},
		{"grpc mTLS header", "grpc", true},
		{"http mTLS header", "http/protobuf", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := otlptest.Options{}
			if tc.secure {
				opts = otlptest.Options{TLS: certs, RequireClientCert: true, Header: "authorization", Value: "Bearer e2e token"}
			}
			r := otlptest.Start(t, opts)
			endpoint := r.GRPCEndpoint()
			if tc.protocol != "grpc" {
				endpoint = r.HTTPEndpoint()
			}
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
			t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", tc.protocol)
			t.Setenv("OTEL_SERVICE_NAME", "e2e-sensor")
			t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=test,team=sec%20ops")
			if tc.secure {
				t.Setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", certs.CAFile)
				t.Setenv("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", certs.ClientCert)
				t.Setenv("OTEL_EXPORTER_OTLP_CLIENT_KEY", certs.ClientKey)
				t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20e2e%20token")
			}
			var stdout bytes.Buffer
			sensor := startSensor(t, bin, &stdout)

			marker := "otlp-marker-" + strconv.Itoa(os.Getpid()) + "-" + strconv.Itoa(len(tc.name))
			dir := t.TempDir()
			cmd := exec.Command("/bin/echo", marker, "second arg")
			cmd.Dir = dir
			if err := cmd.Run(); err != nil {
				t.Fatal(err)
			}

			var rec plog.LogRecord
			var res pcommon.Resource
			otlptest.Eventually(t, 30*time.Second, func() bool {
				recs, ress := r.Records()
				for i, lr := range recs {
					if args, ok := lr.Attributes().Get("process.command_args"); ok && lr.EventName() == "process.exec" &&
						args.Slice().Len() == 3 && args.Slice().At(1).Str() == marker {
						rec, res = lr, ress[i]
						return true
					}
				}
				return false
			}, "no process.exec of the marker arrived at the receiver")

			echo, _ := filepath.EvalSymlinks("/bin/echo")
			want := map[string]any{
				"process.pid":               int64(cmd.Process.Pid),
				"process.executable.path":   echo,
				"process.working_directory": dir,
				"process.args_count":        int64(3),
				"process.user.id":           int64(os.Geteuid()),
			}
			for k, v := range want {
				if got, ok := rec.Attributes().Get(k); !ok || got.AsRaw() != v {
					t.Errorf("%s = %v (present %v), want %v", k, got.AsRaw(), ok, v)
				}
			}
			if args, _ := rec.Attributes().Get("process.command_args"); !slices.Equal(args.Slice().AsRaw(), []any{"/bin/echo", marker, "second arg"}) {
				t.Errorf("command_args = %v", args.Slice().AsRaw())
			}
			if rec.SeverityNumber() != plog.SeverityNumberInfo || rec.Timestamp() == 0 {
				t.Errorf("severity %v timestamp %v", rec.SeverityNumber(), rec.Timestamp())
			}
			wantRes := map[string]string{
				"service.name":                "e2e-sensor",
				"deployment.environment.name": "test",
				"team":                        "sec ops",
				"sensor.provider":             "ebpf",
				"os.type":                     "linux",
			}
			for k, v := range wantRes {
				if got, ok := res.Attributes().Get(k); !ok || got.Str() != v {
					t.Errorf("resource %s = %q (present %v), want %q", k, got.Str(), ok, v)
				}
			}
			for _, k := range []string{"service.version", "service.instance.id", "host.name", "os.version"} {
				if _, ok := res.Attributes().Get(k); !ok {
					t.Errorf("resource lacks %s", k)
				}
			}

			// At shutdown the last metrics go to the receiver too, and
			// nothing goes to stdout.
			stopSensor(t, sensor, syscall.SIGTERM)
			names := r.MetricNames()
			for _, n := range []string{"sensor.events", "sensor.events.dropped", "sensor.provider.status"} {
				if !names[n] {
					t.Errorf("receiver lacks metric %s (has %v)", n, names)
				}
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout has %d bytes with OTLP configured: %.200s", stdout.Len(), stdout.String())
			}
			if n := r.Refused.Load(); n != 0 {
				t.Errorf("receiver refused %d requests", n)
			}
		})
	}
}

// OTEL_LOGS_EXPORTER=console keeps events on stdout even with an endpoint;
// the metrics still go over OTLP.
func TestRunConsoleExporterWithEndpoint(t *testing.T) {
	kerneltest.Require(t)
	bin := buildSensor(t)
	r := otlptest.Start(t, otlptest.Options{})
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", r.GRPCEndpoint())
	t.Setenv("OTEL_LOGS_EXPORTER", "console")
	var stdout bytes.Buffer
	sensor := startSensor(t, bin, &stdout)
	exec.Command("/bin/true", "console-marker").Run()
	stopSensor(t, sensor, syscall.SIGTERM)

	out := parseOutput(t, stdout.Bytes())
	found := false
	for _, lr := range out.records {
		if a, ok := attr(lr, "process.command_args"); ok && a.Slice().Len() == 2 && a.Slice().At(1).Str() == "console-marker" {
			found = true
		}
	}
	if !found {
		t.Errorf("no exec of the marker among %d records on stdout", len(out.records))
	}
	if len(out.metrics) != 0 {
		t.Errorf("%d metrics lines on stdout, want them over OTLP", len(out.metrics))
	}
	if n := r.Logs.LogRecordCount(); n != 0 {
		t.Errorf("receiver got %d log records with OTEL_LOGS_EXPORTER=console", n)
	}
	if !r.MetricNames()["sensor.events"] {
		t.Error("receiver got no sensor.events metric")
	}
}

// A bad OTLP setting stops the sensor before it starts, with exit code 2
// and a message naming the key and where it came from.
func TestOTLPConfigErrorsExit2(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want []string
	}{
		{"endpoint flag without port", []string{"run", "--otlp-endpoint", "collector"}, nil, []string{`"otlp.endpoint"`, "collector"}},
		{"timeout not in milliseconds", []string{"run"}, []string{"OTEL_EXPORTER_OTLP_TIMEOUT=5s"}, []string{"OTEL_EXPORTER_OTLP_TIMEOUT"}},
		{"http endpoint without scheme", []string{"run"}, []string{"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf", "OTEL_EXPORTER_OTLP_ENDPOINT=collector:4318"}, []string{`"otlp.endpoint"`}},
		{"missing CA file", []string{"run"}, []string{"OTEL_EXPORTER_OTLP_ENDPOINT=https://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_CERTIFICATE=/nonexistent/ca.pem"}, []string{"/nonexistent/ca.pem"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, e := range tc.env {
				k, v, _ := strings.Cut(e, "=")
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			if code := execute(context.Background(), tc.args, &stdout, &stderr); code != 2 {
				t.Fatalf("exit %d, want 2 (stderr %q)", code, stderr.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr %q does not name %s", stderr.String(), w)
				}
			}
		})
	}
}

// With the collector down until the end: health says so within seconds,
// while the export is still being retried; the sensor still exits within
// its bound, and its last log line counts what it accepted and dropped, by
// stage and reason: the metrics that would say so cannot reach the
// collector.
func TestExitSummaryWithCollectorDown(t *testing.T) {
	kerneltest.Require(t)
	bin := buildSensor(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + l.Addr().String()
	l.Close() // nothing listens there any more: every export is refused
	dir := t.TempDir()
	logFile := filepath.Join(dir, "sensor.log")
	socketEnv := "OTEL_SENSOR_HEALTH__SOCKET=" + filepath.Join(dir, "health.sock")
	sensor := startSensorLogFile(t, bin, logFile, []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_SENSOR_LOG__OUTPUT=" + logFile, "OTEL_SENSOR_LOG__FORMAT=json", socketEnv,
	})
	const runs = 5
	for range runs {
		if err := exec.Command("/bin/true", "exit-summary-marker").Run(); err != nil {
			t.Fatal(err)
		}
	}

	// Seconds in, the export is retrying (for up to otlp.retry.max_elapsed_time),
	// and health reports it.
	var report struct {
		Healthy  bool
		Issues   []string `json:"health_issues"`
		Exporter struct {
			LastError string `json:"last_error"`
		}
	}
	otlptest.Eventually(t, 20*time.Second, func() bool {
		health := exec.Command(bin, "health", "--output", "json")
		health.Env = append(os.Environ(), socketEnv)
		out, _ := health.Output() // exit 1 lists issues
		return json.Unmarshal(out, &report) == nil && report.Exporter.LastError != ""
	}, "health never reported a failing export")
	if report.Healthy || !strings.HasPrefix(report.Exporter.LastError, "retrying: otlp logs exporter: ") ||
		!strings.Contains(report.Exporter.LastError, "connection refused") || len(report.Issues) == 0 {
		t.Errorf("health while the collector is down: %+v", report)
	}
	start := time.Now()
	sensor.Process.Signal(syscall.SIGTERM)
	err = sensor.Wait()
	took := time.Since(start)
	// The flush gives up after its bound; stopping on SIGTERM still exits 0.
	if err != nil {
		t.Errorf("exit: %v, want exit 0", err)
	}
	if took > 30*time.Second {
		t.Errorf("the sensor took %v to stop", took)
	}

	var summary struct {
		Level, Msg      string
		Events, Dropped uint64
		Drops           string
	}
	b, _ := os.ReadFile(logFile)
	flushWarned := false
	for line := range strings.Lines(string(b)) {
		var l struct{ Level, Msg string }
		if json.Unmarshal([]byte(line), &l) != nil {
			continue
		}
		flushWarned = flushWarned || l.Level == "WARN" && l.Msg == "flush incomplete"
		if l.Msg == "stopped" {
			if err := json.Unmarshal([]byte(line), &summary); err != nil {
				t.Fatalf("%v: %s", err, line)
			}
		}
	}
	if summary.Msg == "" || !flushWarned {
		t.Fatalf("no \"flush incomplete\" warning or no \"stopped\" line in the log:\n%s", b)
	}
	// Every event accepted was dropped, and each drop names its stage,
	// reason and event; the runs above are among them.
	if summary.Level != "WARN" || summary.Events < 3*runs || summary.Dropped < summary.Events {
		t.Errorf("summary %+v: want WARN, at least %d events, all of them dropped", summary, 3*runs)
	}
	var sum uint64
	for f := range strings.FieldsSeq(summary.Drops) {
		name, count, ok := strings.Cut(f, "=")
		n, err := strconv.ParseUint(count, 10, 64)
		if parts := strings.Split(name, "/"); !ok || err != nil || len(parts) != 3 {
			t.Errorf("drop %q is not stage/reason/event=count", f)
		}
		sum += n
	}
	if sum != summary.Dropped || !strings.Contains(summary.Drops, "/process.exec=") {
		t.Errorf("drops %q sum to %d, want %d with process.exec among them", summary.Drops, sum, summary.Dropped)
	}
}
