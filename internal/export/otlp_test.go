package export

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/otel-sensor/otel-sensor/internal/event"
	"github.com/otel-sensor/otel-sensor/internal/export/otlptest"
)

// fastRetry keeps retry tests short.
var fastRetry = RetryConfig{InitialInterval: 10 * time.Millisecond, MaxInterval: 50 * time.Millisecond, MaxElapsedTime: 5 * time.Second}

func newTestOTLP(t *testing.T, opts OTLPOptions) *OTLP {
	t.Helper()
	o, err := NewOTLP(context.Background(), opts)
	if err != nil {
		t.Fatalf("NewOTLP: %v", err)
	}
	t.Cleanup(func() { o.Shutdown(context.Background()) })
	return o
}

// receiverConfig points one signal at r over protocol.
func receiverConfig(r *otlptest.Receiver, protocol, signal string) *OTLPConfig {
	c := &OTLPConfig{Protocol: protocol, Retry: fastRetry}
	if protocol == ProtocolGRPC {
		c.Endpoint = r.GRPCEndpoint()
	} else {
		c.Endpoint = r.HTTPEndpoint() + "/v1/" + signal
	}
	return c
}

// richLogs holds one record of every representative event.
func richLogs() plog.Logs {
	var evs []*event.Event
	for _, c := range mappingCases() {
		evs = append(evs, c.ev)
	}
	return NewLogs(testResource, evs)
}

func logsJSON(t *testing.T, ld plog.Logs) string {
	t.Helper()
	b, err := (&plog.JSONMarshaler{}).MarshalLogs(ld)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func metricsJSON(t *testing.T, md pmetric.Metrics) string {
	t.Helper()
	b, err := (&pmetric.JSONMarshaler{}).MarshalMetrics(md)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkDelivered exports logs and metrics through exp and checks that r
// received exactly them: records with their EventName and attributes, the
// resource, the metrics.
func checkDelivered(t *testing.T, exp Exporter, r *otlptest.Receiver) {
	t.Helper()
	ctx := context.Background()
	ld, md := richLogs(), testMetrics()
	if err := exp.ExportLogs(ctx, ld); err != nil {
		t.Fatalf("ExportLogs: %v", err)
	}
	if err := exp.ExportMetrics(ctx, md); err != nil {
		t.Fatalf("ExportMetrics: %v", err)
	}
	got := r.Logs.AllLogs()
	if len(got) != 1 {
		t.Fatalf("receiver got %d logs requests, want 1", len(got))
	}
	if g, w := logsJSON(t, got[0]), logsJSON(t, ld); g != w {
		t.Errorf("received logs differ from those sent:\n got %s\nwant %s", g, w)
	}
	recs, res := r.Records()
	if len(recs) != ld.LogRecordCount() {
		t.Fatalf("received %d records, want %d", len(recs), ld.LogRecordCount())
	}
	if recs[0].EventName() != "process.exec" {
		t.Errorf("first EventName = %q", recs[0].EventName())
	}
	if v, _ := res[0].Attributes().Get("host.name"); v.Str() != "testhost" {
		t.Errorf("resource host.name = %q", v.Str())
	}
	gotMetrics := r.Metrics.AllMetrics()
	if len(gotMetrics) != 1 {
		t.Fatalf("receiver got %d metrics requests, want 1", len(gotMetrics))
	}
	if g, w := metricsJSON(t, gotMetrics[0]), metricsJSON(t, md); g != w {
		t.Errorf("received metrics differ from those sent:\n got %s\nwant %s", g, w)
	}
}

func TestOTLPDeliversToCollectorReceiver(t *testing.T) {
	for _, tc := range []struct {
		protocol, compression string
	}{
		{ProtocolGRPC, ""},
		{ProtocolGRPC, "gzip"},
		{ProtocolHTTPProtobuf, "none"},
		{ProtocolHTTPProtobuf, "gzip"},
		{ProtocolHTTPJSON, ""},
	} {
		t.Run(strings.ReplaceAll(tc.protocol, "/", "-")+"-"+tc.compression, func(t *testing.T) {
			r := otlptest.Start(t, otlptest.Options{})
			logs, metrics := receiverConfig(r, tc.protocol, "logs"), receiverConfig(r, tc.protocol, "metrics")
			logs.Compression, metrics.Compression = tc.compression, tc.compression
			checkDelivered(t, newTestOTLP(t, OTLPOptions{Logs: logs, Metrics: metrics}), r)
		})
	}
}

// A gRPC endpoint without a scheme uses TLS unless insecure is set.
func TestOTLPGRPCInsecureWithoutScheme(t *testing.T) {
	r := otlptest.Start(t, otlptest.Options{})
	c := &OTLPConfig{Endpoint: r.GRPCAddr, Insecure: true, Retry: fastRetry}
	checkDelivered(t, newTestOTLP(t, OTLPOptions{Logs: c, Metrics: c}), r)
}

func TestOTLPTLS(t *testing.T) {
	certs := otlptest.NewCerts(t)
	for _, protocol := range []string{ProtocolGRPC, ProtocolHTTPProtobuf} {
		t.Run(strings.ReplaceAll(protocol, "/", "-"), func(t *testing.T) {
			t.Run("server certificate verified with the CA file", func(t *testing.T) {
				r := otlptest.Start(t, otlptest.Options{TLS: certs})
				logs, metrics := receiverConfig(r, protocol, "logs"), receiverConfig(r, protocol, "metrics")
				logs.CAFile, metrics.CAFile = certs.CAFile, certs.CAFile
				checkDelivered(t, newTestOTLP(t, OTLPOptions{Logs: logs, Metrics: metrics}), r)
			})
			t.Run("gRPC endpoint without scheme is TLS by default", func(t *testing.T) {
				if protocol != ProtocolGRPC {
					t.Skip("gRPC only")
				}
				r := otlptest.Start(t, otlptest.Options{TLS: certs})
				c := &OTLPConfig{Endpoint: r.GRPCAddr, CAFile: certs.CAFile, Retry: fastRetry}
				checkDelivered(t, newTestOTLP(t, OTLPOptions{Logs: c, Metrics: c}), r)
			})
			t.Run("mutual TLS", func(t *testing.T) {
				r := otlptest.Start(t, otlptest.Options{TLS: certs, RequireClientCert: true})
				logs, metrics := receiverConfig(r, protocol, "logs"), receiverConfig(r, protocol, "metrics")
				for _, c := range []*OTLPConfig{logs, metrics} {
					c.CAFile, c.CertFile, c.KeyFile = certs.CAFile, certs.ClientCert, certs.ClientKey
				}
				checkDelivered(t, newTestOTLP(t, OTLPOptions{Logs: logs, Metrics: metrics}), r)
			})
			t.Run("mutual TLS without a client certificate fails", func(t *testing.T) {
				r := otlptest.Start(t, otlptest.Options{TLS: certs, RequireClientCert: true})
				logs := receiverConfig(r, protocol, "logs")
				logs.CAFile, logs.Retry = certs.CAFile, RetryConfig{Disabled: true}
				o := newTestOTLP(t, OTLPOptions{Logs: logs})
				if err := o.ExportLogs(context.Background(), testLogs(1)); err == nil {
					t.Fatal("export without a client certificate succeeded")
				}
				if n := r.Logs.LogRecordCount(); n != 0 {
					t.Fatalf("receiver got %d records", n)
				}
			})
			t.Run("server certificate from another CA fails", func(t *testing.T) {
				r := otlptest.Start(t, otlptest.Options{TLS: certs})
				logs := receiverConfig(r, protocol, "logs")
				logs.CAFile, logs.Retry = certs.OtherCAFile, RetryConfig{Disabled: true}
				o := newTestOTLP(t, OTLPOptions{Logs: logs})
				if err := o.ExportLogs(context.Background(), testLogs(1)); err == nil {
					t.Fatal("export to an untrusted server succeeded")
				}
				if n := r.Logs.LogRecordCount(); n != 0 {
					t.Fatalf("receiver got %d records", n)
				}
			})
		})
	}
}

func TestOTLPRequiredHeader(t *testing.T) {
	for _, protocol := range []string{ProtocolGRPC, ProtocolHTTPProtobuf} {
		t.Run(strings.ReplaceAll(protocol, "/", "-"), func(t *testing.T) {
			r := otlptest.Start(t, otlptest.Options{Header: "Authorization", Value: "Bearer s3cret"})
			logs, metrics := receiverConfig(r, protocol, "logs"), receiverConfig(r, protocol, "metrics")
			logs.Headers = map[string]string{"authorization": "Bearer s3cret"}
			metrics.Headers = logs.Headers
			checkDelivered(t, newTestOTLP(t, OTLPOptions{Logs: logs, Metrics: metrics}), r)

			// Without the header the receiver refuses, once: an
			// authentication failure is not retried.
			bare := receiverConfig(r, protocol, "logs")
			o := newTestOTLP(t, OTLPOptions{Logs: bare})
			err := o.ExportLogs(context.Background(), testLogs(2))
			if !errors.Is(err, ErrRejected) {
				t.Fatalf("export without the header: %v, want ErrRejected", err)
			}
			if n := r.Refused.Load(); n != 1 {
				t.Fatalf("receiver refused %d requests, want 1 (no retry)", n)
			}
		})
	}
}

// httpScript is an OTLP/HTTP logs endpoint that answers requests with the
// next of its responses (the last one repeats) and counts what it got.
type httpScript struct {
	mu        sync.Mutex
	responses []func(w http.ResponseWriter)
	requests  int
	records   int // log records of the requests answered 200
	times     []time.Time
}

func (s *httpScript) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.times = append(s.times, time.Now())
	i := min(s.requests, len(s.responses)-1)
	s.requests++
	rec := httptest.NewRecorder()
	s.responses[i](rec)
	if rec.Code == http.StatusOK {
		r := plogotlp.NewExportRequest()
		if err := r.UnmarshalProto(body); err == nil {
			s.records += r.Logs().LogRecordCount()
		}
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}

func (s *httpScript) counts() (requests, records int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests, s.records
}

func startHTTPScript(t *testing.T, responses ...func(w http.ResponseWriter)) (*httpScript, *OTLPConfig) {
	t.Helper()
	s := &httpScript{responses: responses}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, &OTLPConfig{Protocol: ProtocolHTTPProtobuf, Endpoint: srv.URL + "/v1/logs", Retry: fastRetry}
}

func status200(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

func statusCode(code int, header ...string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
	}
}

func partialSuccess(rejected int64) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		resp := plogotlp.NewExportResponse()
		resp.PartialSuccess().SetRejectedLogRecords(rejected)
		resp.PartialSuccess().SetErrorMessage("some records were invalid")
		b, _ := resp.MarshalProto()
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
		w.Write(b)
	}
}

func TestOTLPHTTPRetry(t *testing.T) {
	t.Run("503 with Retry-After, then 200: delivered once", func(t *testing.T) {
		s, c := startHTTPScript(t, statusCode(http.StatusServiceUnavailable, "Retry-After", "1"), status200)
		o := newTestOTLP(t, OTLPOptions{Logs: c})
		if err := o.ExportLogs(context.Background(), testLogs(3)); err != nil {
			t.Fatalf("ExportLogs: %v", err)
		}
		if req, recs := s.counts(); req != 2 || recs != 3 {
			t.Fatalf("requests %d records %d, want 2 and 3", req, recs)
		}
		// Retry-After: 1 is honoured although the backoff is 10ms.
		if d := s.times[1].Sub(s.times[0]); d < 900*time.Millisecond {
			t.Errorf("retried after %v, want about 1s (Retry-After)", d)
		}
	})
	for _, code := range []int{http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout} {
		t.Run(http.StatusText(code)+" is retried", func(t *testing.T) {
			s, c := startHTTPScript(t, statusCode(code), statusCode(code), status200)
			o := newTestOTLP(t, OTLPOptions{Logs: c})
			if err := o.ExportLogs(context.Background(), testLogs(1)); err != nil {
				t.Fatalf("ExportLogs: %v", err)
			}
			if req, recs := s.counts(); req != 3 || recs != 1 {
				t.Fatalf("requests %d records %d, want 3 and 1", req, recs)
			}
		})
	}
	for _, code := range []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusRequestEntityTooLarge, http.StatusInternalServerError} {
		t.Run(http.StatusText(code)+" is not retried", func(t *testing.T) {
			s, c := startHTTPScript(t, statusCode(code), status200)
			o := newTestOTLP(t, OTLPOptions{Logs: c})
			err := o.ExportLogs(context.Background(), testLogs(1))
			if !errors.Is(err, ErrRejected) {
				t.Fatalf("ExportLogs: %v, want ErrRejected", err)
			}
			if req, _ := s.counts(); req != 1 {
				t.Fatalf("%d requests, want 1", req)
			}
		})
	}
	t.Run("retries end after the max elapsed time", func(t *testing.T) {
		s, c := startHTTPScript(t, statusCode(http.StatusServiceUnavailable))
		c.Retry.MaxElapsedTime = 300 * time.Millisecond
		o := newTestOTLP(t, OTLPOptions{Logs: c})
		err := o.ExportLogs(context.Background(), testLogs(1))
		if err == nil || errors.Is(err, ErrRejected) {
			t.Fatalf("ExportLogs: %v, want a failure that is not a rejection", err)
		}
		if req, _ := s.counts(); req < 2 {
			t.Fatalf("%d requests, want retries", req)
		}
	})
}

// The pipeline counts what the OTLP exporter loses exactly once: a batch
// refused whole as rejected, a batch given up on as export_failed, the
// records refused in a partial success as rejected without event name.
func TestOTLPDropsCountedByPipeline(t *testing.T) {
	for _, tc := range []struct {
		name      string
		responses []func(http.ResponseWriter)
		retry     RetryConfig
		want      map[string]int64
	}{
		{
			name:      "400 rejects the batch",
			responses: []func(http.ResponseWriter){statusCode(http.StatusBadRequest)},
			retry:     fastRetry,
			want:      map[string]int64{"event.name=process.fork,reason=rejected,stage=export": 4},
		},
		{
			name:      "partial success",
			responses: []func(http.ResponseWriter){partialSuccess(3)},
			retry:     fastRetry,
			want:      map[string]int64{"reason=rejected,stage=export": 3},
		},
		{
			name:      "unavailable until retries end",
			responses: []func(http.ResponseWriter){statusCode(http.StatusServiceUnavailable)},
			retry:     RetryConfig{InitialInterval: 10 * time.Millisecond, MaxElapsedTime: 100 * time.Millisecond},
			want:      map[string]int64{"event.name=process.fork,reason=export_failed,stage=export": 4},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, c := startHTTPScript(t, tc.responses...)
			c.Retry = tc.retry
			otlp := newTestOTLP(t, OTLPOptions{Logs: c})
			metrics := newFakeExporter()
			p := NewPipeline(testResource, Split{Logs: otlp, Metrics: metrics}, PipelineConfig{MaxBatch: 4, FlushInterval: time.Hour, MetricsInterval: time.Hour})
			if err := p.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			for pid := uint32(1); pid <= 4; pid++ {
				p.Handle(newEvent(event.KindFork, pid))
			}
			shutdown(t, p)
			checkPoints(t, metrics.lastMetrics(t), MetricEventsDropped, tc.want)
			var sum int64
			for _, v := range tc.want {
				sum += v
			}
			if st := p.Status(); st.DroppedTotal != uint64(sum) || st.EventsTotal != 4 {
				t.Errorf("status = %+v", st)
			}
		})
	}
}

// grpcScript is an OTLP/gRPC logs service that answers with the next of its
// results (the last one repeats).
type grpcScript struct {
	plogotlp.UnimplementedGRPCServer
	mu       sync.Mutex
	results  []func() (plogotlp.ExportResponse, error)
	requests int
	records  int
	times    []time.Time
}

func (s *grpcScript) Export(_ context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.times = append(s.times, time.Now())
	i := min(s.requests, len(s.results)-1)
	s.requests++
	resp, err := s.results[i]()
	if err == nil {
		s.records += req.Logs().LogRecordCount()
	}
	return resp, err
}

func (s *grpcScript) counts() (requests, records int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests, s.records
}

func startGRPCScript(t *testing.T, results ...func() (plogotlp.ExportResponse, error)) (*grpcScript, *OTLPConfig) {
	t.Helper()
	s := &grpcScript{results: results}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	plogotlp.RegisterGRPCServer(srv, s)
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	return s, &OTLPConfig{Protocol: ProtocolGRPC, Endpoint: "http://" + l.Addr().String(), Retry: fastRetry}
}

func grpcOK() (plogotlp.ExportResponse, error) { return plogotlp.NewExportResponse(), nil }

func grpcErr(code codes.Code, retryDelay time.Duration) func() (plogotlp.ExportResponse, error) {
	return func() (plogotlp.ExportResponse, error) {
		st := status.New(code, "scripted failure")
		if retryDelay > 0 {
			st, _ = st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(retryDelay)})
		}
		return plogotlp.NewExportResponse(), st.Err()
	}
}

func TestOTLPGRPCRetry(t *testing.T) {
	t.Run("UNAVAILABLE is retried", func(t *testing.T) {
		s, c := startGRPCScript(t, grpcErr(codes.Unavailable, 0), grpcErr(codes.Unavailable, 0), grpcOK)
		o := newTestOTLP(t, OTLPOptions{Logs: c})
		if err := o.ExportLogs(context.Background(), testLogs(2)); err != nil {
			t.Fatalf("ExportLogs: %v", err)
		}
		if req, recs := s.counts(); req != 3 || recs != 2 {
			t.Fatalf("requests %d records %d, want 3 and 2", req, recs)
		}
	})
	t.Run("RESOURCE_EXHAUSTED with RetryInfo waits as told", func(t *testing.T) {
		s, c := startGRPCScript(t, grpcErr(codes.ResourceExhausted, 500*time.Millisecond), grpcOK)
		o := newTestOTLP(t, OTLPOptions{Logs: c})
		if err := o.ExportLogs(context.Background(), testLogs(1)); err != nil {
			t.Fatalf("ExportLogs: %v", err)
		}
		if req, _ := s.counts(); req != 2 {
			t.Fatalf("%d requests, want 2", req)
		}
		if d := s.times[1].Sub(s.times[0]); d < 450*time.Millisecond {
			t.Errorf("retried after %v, want about 500ms (RetryInfo)", d)
		}
	})
	for _, code := range []codes.Code{codes.InvalidArgument, codes.Unauthenticated, codes.PermissionDenied, codes.ResourceExhausted} {
		t.Run(code.String()+" is not retried", func(t *testing.T) {
			s, c := startGRPCScript(t, grpcErr(code, 0), grpcOK)
			o := newTestOTLP(t, OTLPOptions{Logs: c})
			if err := o.ExportLogs(context.Background(), testLogs(1)); !errors.Is(err, ErrRejected) {
				t.Fatalf("ExportLogs: %v, want ErrRejected", err)
			}
			if req, _ := s.counts(); req != 1 {
				t.Fatalf("%d requests, want 1", req)
			}
		})
	}
	t.Run("partial success is counted", func(t *testing.T) {
		_, c := startGRPCScript(t, func() (plogotlp.ExportResponse, error) {
			resp := plogotlp.NewExportResponse()
			resp.PartialSuccess().SetRejectedLogRecords(2)
			return resp, nil
		})
		o := newTestOTLP(t, OTLPOptions{Logs: c})
		for range 2 {
			if err := o.ExportLogs(context.Background(), testLogs(5)); err != nil {
				t.Fatalf("ExportLogs: %v", err)
			}
		}
		d := o.Drops()
		if len(d) != 1 || d[0].Count != 4 || d[0].Stage != "export" || d[0].Reason != "rejected" || d[0].EventName != "" {
			t.Fatalf("Drops = %+v, want 4 rejected at export", d)
		}
	})
}

// An unreachable collector is retried, and Shutdown ends the wait.
func TestOTLPShutdownEndsRetries(t *testing.T) {
	addr := otlptest.FreeAddr(t) // nothing listens there
	c := &OTLPConfig{Endpoint: "http://" + addr, Retry: RetryConfig{InitialInterval: time.Hour, MaxElapsedTime: -1}}
	waiting := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	var failed []string
	log := slog.New(handlerFunc(func(r slog.Record) {
		if strings.Contains(r.Message, "Will retry") {
			once.Do(func() { close(waiting) })
		}
		if strings.Contains(r.Message, "Exporting failed") {
			mu.Lock()
			failed = append(failed, r.Message)
			mu.Unlock()
		}
	}))
	o, err := NewOTLP(context.Background(), OTLPOptions{Logs: c, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- o.ExportLogs(context.Background(), testLogs(1)) }()
	select {
	case <-waiting:
	case <-time.After(10 * time.Second):
		t.Fatal("the exporter did not log that it would retry")
	}
	if err := o.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("export to nowhere succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("export still waiting 10s after Shutdown")
	}
	// The failure is logged without the Collector's advice to enable a
	// setting the sensor has not.
	mu.Lock()
	for _, m := range failed {
		if strings.Contains(m, "Try enabling") || strings.Contains(m, "sending_queue") {
			t.Errorf("logged %q", m)
		}
	}
	if len(failed) == 0 {
		t.Error("the failed export was not logged")
	}
	mu.Unlock()
	if err := o.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if err := o.ExportLogs(context.Background(), testLogs(1)); !errors.Is(err, ErrShutdown) {
		t.Fatalf("export after Shutdown: %v", err)
	}
}

// handlerFunc is a slog.Handler that calls f with every record.
type handlerFunc func(slog.Record)

func (h handlerFunc) Enabled(context.Context, slog.Level) bool      { return true }
func (h handlerFunc) Handle(_ context.Context, r slog.Record) error { h(r); return nil }
func (h handlerFunc) WithAttrs([]slog.Attr) slog.Handler            { return h }
func (h handlerFunc) WithGroup(string) slog.Handler                 { return h }

func TestOTLPConfigErrors(t *testing.T) {
	certs := otlptest.NewCerts(t)
	for _, tc := range []struct {
		name string
		cfg  OTLPConfig
		want string
	}{
		{"grpc endpoint without port", OTLPConfig{Endpoint: "collector"}, "collector"},
		{"grpc endpoint with bad scheme", OTLPConfig{Endpoint: "ftp://collector:4317"}, "ftp"},
		{"http endpoint without scheme", OTLPConfig{Protocol: ProtocolHTTPProtobuf, Endpoint: "collector:4318"}, "http:// or https://"},
		{"unknown protocol", OTLPConfig{Protocol: "carrier-pigeon", Endpoint: "localhost:4317"}, "carrier-pigeon"},
		{"unknown compression", OTLPConfig{Endpoint: "localhost:4317", Compression: "zip"}, "zip"},
		{"certificate without key", OTLPConfig{Endpoint: "https://localhost:4317", CertFile: certs.ClientCert}, "key file"},
		{"missing CA file", OTLPConfig{Endpoint: "https://localhost:4317", CAFile: "/nonexistent/ca.pem"}, "/nonexistent/ca.pem"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := NewOTLP(context.Background(), OTLPOptions{Logs: &tc.cfg})
			if err == nil {
				o.Shutdown(context.Background())
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestGRPCTarget(t *testing.T) {
	for _, tc := range []struct {
		endpoint     string
		insecure     bool
		target       string
		wantInsecure bool
	}{
		{"http://127.0.0.1:4317", false, "127.0.0.1:4317", true},
		{"https://collector:4317", true, "collector:4317", false},
		{"https://collector", false, "collector:4317", false},
		{"http://collector:4317/ignored/path", false, "collector:4317", true},
		{"collector:4317", false, "collector:4317", false},
		{"collector:4317", true, "collector:4317", true},
		{"[::1]:4317", true, "[::1]:4317", true},
	} {
		target, insecure, err := grpcTarget(tc.endpoint, tc.insecure)
		if err != nil || target != tc.target || insecure != tc.wantInsecure {
			t.Errorf("grpcTarget(%q, %v) = %q, %v, %v; want %q, %v", tc.endpoint, tc.insecure, target, insecure, err, tc.target, tc.wantInsecure)
		}
	}
}

// While the collector is away, batches are retried and new events wait in
// the queue; when it returns, every event arrives, once, and nothing is
// counted as dropped.
func TestOTLPOutageLosesNothing(t *testing.T) {
	for _, protocol := range []string{ProtocolGRPC, ProtocolHTTPProtobuf} {
		t.Run(strings.ReplaceAll(protocol, "/", "-"), func(t *testing.T) {
			first := otlptest.Start(t, otlptest.Options{})
			c := receiverConfig(first, protocol, "logs")
			c.Retry = RetryConfig{InitialInterval: 20 * time.Millisecond, MaxInterval: 200 * time.Millisecond, MaxElapsedTime: time.Minute}
			waiting := make(chan struct{}, 1)
			log := slog.New(handlerFunc(func(r slog.Record) {
				if strings.Contains(r.Message, "Will retry") {
					select {
					case waiting <- struct{}{}:
					default:
					}
				}
			}))
			otlp := newTestOTLP(t, OTLPOptions{Logs: c, Logger: log})
			metrics := newFakeExporter()
			p := NewPipeline(testResource, Split{Logs: otlp, Metrics: metrics}, PipelineConfig{MaxBatch: 10, FlushInterval: 10 * time.Millisecond, MetricsInterval: time.Hour})
			if err := p.Start(context.Background()); err != nil {
				t.Fatal(err)
			}

			pid := uint32(0)
			send := func(n int) {
				for range n {
					pid++
					p.Handle(newEvent(event.KindFork, pid))
				}
			}
			send(25)
			otlptest.Eventually(t, 10*time.Second, func() bool { return first.Logs.LogRecordCount() == 25 }, "the first 25 records did not arrive")

			first.Stop()
			send(25)
			select {
			case <-waiting: // the exporter is retrying against the stopped receiver
			case <-time.After(10 * time.Second):
				t.Fatal("the exporter did not retry while the receiver was down")
			}
			send(25)
			second := otlptest.Start(t, otlptest.Options{GRPCAddr: first.GRPCAddr, HTTPAddr: first.HTTPAddr})
			send(25)
			otlptest.Eventually(t, 30*time.Second, func() bool { return second.Logs.LogRecordCount() == 75 }, "the records sent during the outage did not all arrive")
			shutdown(t, p)

			seen := map[int64]int{}
			for _, r := range []*otlptest.Receiver{first, second} {
				recs, _ := r.Records()
				for _, lr := range recs {
					v, _ := lr.Attributes().Get("process.pid")
					seen[v.Int()]++
				}
			}
			for i := int64(1); i <= int64(pid); i++ {
				if seen[i] != 1 {
					t.Errorf("pid %d arrived %d times", i, seen[i])
				}
			}
			if st := p.Status(); st.DroppedTotal != 0 || st.EventsTotal != 100 {
				t.Errorf("status = %+v, want 100 events and no drops", st)
			}
		})
	}
}

// A collector that stays away: gRPC tries to connect again and again, and
// the wait between its attempts stops growing at otlp.retry.max_interval
// instead of at gRPC's own 120 s, so a collector that comes back after a
// long outage is found within that time. Here the cap is 1 s; gRPC's own
// waits would be 1, 1.6, 2.6, 4.1, 6.6 s (±20%).
func TestOTLPGRPCReconnectBackoffCapped(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	attempts := make(chan time.Time, 100)
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			attempts <- time.Now()
			conn.Close() // not a gRPC server: the attempt fails
		}
	}()
	c := &OTLPConfig{Endpoint: "http://" + l.Addr().String(), Retry: RetryConfig{InitialInterval: 100 * time.Millisecond, MaxInterval: time.Second, MaxElapsedTime: -1}}
	o := newTestOTLP(t, OTLPOptions{Logs: c})
	go o.ExportLogs(context.Background(), testLogs(1))
	var times []time.Time
	for len(times) < 7 {
		select {
		case at := <-attempts:
			times = append(times, at)
		case <-time.After(30 * time.Second):
			t.Fatalf("%d connection attempts, then none for 30 s", len(times))
		}
	}
	// The sixth wait: about 1 s with the cap, about 10 s without.
	if gap := times[6].Sub(times[5]); gap > 3*time.Second {
		t.Errorf("waits between attempts: %v; the last is over the 1 s cap", gaps(times))
	}
}

func gaps(times []time.Time) []time.Duration {
	var out []time.Duration
	for i := 1; i < len(times); i++ {
		out = append(out, times[i].Sub(times[i-1]).Round(10*time.Millisecond))
	}
	return out
}
