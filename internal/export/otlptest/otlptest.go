// Package otlptest runs the OpenTelemetry Collector's own OTLP receiver
// in-process on loopback, for tests of what the sensor sends: over gRPC and
// HTTP, in plaintext, TLS or mutual TLS, optionally requiring a header.
// It also makes the certificates those tests need.
//
// Only tests import it: the receiver never links into the sensor.
package otlptest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/client"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Options configure a Receiver.
type Options struct {
	// TLS, when set, makes both endpoints serve TLS with the server
	// certificate; with RequireClientCert, mutual TLS.
	TLS               *Certs
	RequireClientCert bool
	// Header, when set, must arrive with Value on every request; a request
	// without it is refused with gRPC UNAUTHENTICATED / HTTP 401 (not
	// retryable) and counted in Refused.
	Header, Value string
	// Addresses to listen on: "" picks a free loopback port. Set them to
	// restart a receiver on the same ports.
	GRPCAddr, HTTPAddr string
	// ConsumeLogs, when set, is handed every logs request the receiver
	// accepts, instead of the Logs sink (which stays empty): for tests
	// that count more records than they should hold. It may be called
	// concurrently and must not keep ld.
	ConsumeLogs func(ld plog.Logs)
}

// Receiver is a running otlpreceiver with sinks for what it accepts.
type Receiver struct {
	Logs    *consumertest.LogsSink
	Metrics *consumertest.MetricsSink
	// GRPCAddr and HTTPAddr are the loopback host:port of each protocol.
	GRPCAddr, HTTPAddr string
	// Refused counts the requests refused for lack of the header.
	Refused atomic.Int64

	opts    Options
	logs    receiver.Logs
	metrics receiver.Metrics
	stopped bool
}

// GRPCEndpoint is the gRPC endpoint as a URL: http:// or, with TLS,
// https://.
func (r *Receiver) GRPCEndpoint() string { return r.scheme() + r.GRPCAddr }

// HTTPEndpoint is the base URL of the HTTP endpoint (signals add /v1/logs
// or /v1/metrics).
func (r *Receiver) HTTPEndpoint() string { return r.scheme() + r.HTTPAddr }

func (r *Receiver) scheme() string {
	if r.opts.TLS != nil {
		return "https://"
	}
	return "http://"
}

// Start starts a receiver; t.Cleanup stops it.
func Start(t testing.TB, opts Options) *Receiver {
	t.Helper()
	if opts.GRPCAddr == "" {
		opts.GRPCAddr = FreeAddr(t)
	}
	if opts.HTTPAddr == "" {
		opts.HTTPAddr = FreeAddr(t)
	}
	r := &Receiver{
		Logs:     new(consumertest.LogsSink),
		Metrics:  new(consumertest.MetricsSink),
		GRPCAddr: opts.GRPCAddr,
		HTTPAddr: opts.HTTPAddr,
		opts:     opts,
	}

	factory := otlpreceiver.NewFactory()
	cfg := factory.CreateDefaultConfig().(*otlpreceiver.Config)
	grpcCfg := cfg.Protocols.GRPC.GetOrInsertDefault()
	grpcCfg.NetAddr.Endpoint = opts.GRPCAddr
	grpcCfg.IncludeMetadata = true
	httpCfg := cfg.Protocols.HTTP.GetOrInsertDefault()
	httpCfg.ServerConfig.NetAddr.Endpoint = opts.HTTPAddr
	httpCfg.ServerConfig.IncludeMetadata = true
	if opts.TLS != nil {
		tls := configtls.NewDefaultServerConfig()
		tls.CertFile, tls.KeyFile = opts.TLS.ServerCert, opts.TLS.ServerKey
		if opts.RequireClientCert {
			tls.ClientCAFile = opts.TLS.CAFile
		}
		grpcCfg.TLS = configoptional.Some(tls)
		httpCfg.ServerConfig.TLS = configoptional.Some(tls)
	}

	set := receiver.Settings{
		ID: component.NewID(factory.Type()),
		TelemetrySettings: component.TelemetrySettings{
			Logger:         zap.NewNop(),
			TracerProvider: tracenoop.NewTracerProvider(),
			MeterProvider:  metricnoop.NewMeterProvider(),
			Resource:       pcommon.NewResource(),
		},
		BuildInfo: component.NewDefaultBuildInfo(),
	}
	logsNext, err := consumer.NewLogs(func(ctx context.Context, ld plog.Logs) error {
		if err := r.authorize(ctx); err != nil {
			return err
		}
		if opts.ConsumeLogs != nil {
			opts.ConsumeLogs(ld)
			return nil
		}
		return r.Logs.ConsumeLogs(ctx, ld)
	})
	if err != nil {
		t.Fatal(err)
	}
	metricsNext, err := consumer.NewMetrics(func(ctx context.Context, md pmetric.Metrics) error {
		if err := r.authorize(ctx); err != nil {
			return err
		}
		return r.Metrics.ConsumeMetrics(ctx, md)
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if r.logs, err = factory.CreateLogs(ctx, set, cfg, logsNext); err != nil {
		t.Fatal(err)
	}
	if r.metrics, err = factory.CreateMetrics(ctx, set, cfg, metricsNext); err != nil {
		t.Fatal(err)
	}
	if err := r.logs.Start(ctx, nopHost{}); err != nil {
		t.Fatalf("start otlp receiver: %v", err)
	}
	if err := r.metrics.Start(ctx, nopHost{}); err != nil {
		t.Fatalf("start otlp receiver: %v", err)
	}
	t.Cleanup(r.Stop)
	return r
}

// Stop shuts the receiver down; it is idempotent.
func (r *Receiver) Stop() {
	if r.stopped {
		return
	}
	r.stopped = true
	r.logs.Shutdown(context.Background())
	r.metrics.Shutdown(context.Background())
}

func (r *Receiver) authorize(ctx context.Context) error {
	if r.opts.Header == "" {
		return nil
	}
	got := client.FromContext(ctx).Metadata.Get(r.opts.Header)
	if len(got) != 1 || got[0] != r.opts.Value {
		r.Refused.Add(1)
		return status.Errorf(codes.Unauthenticated, "header %s missing or wrong", r.opts.Header)
	}
	return nil
}

// Records returns every log record received so far, with its resource.
func (r *Receiver) Records() ([]plog.LogRecord, []pcommon.Resource) {
	var recs []plog.LogRecord
	var res []pcommon.Resource
	for _, ld := range r.Logs.AllLogs() {
		for i := range ld.ResourceLogs().Len() {
			rl := ld.ResourceLogs().At(i)
			for j := range rl.ScopeLogs().Len() {
				lrs := rl.ScopeLogs().At(j).LogRecords()
				for k := range lrs.Len() {
					recs = append(recs, lrs.At(k))
					res = append(res, rl.Resource())
				}
			}
		}
	}
	return recs, res
}

// MetricNames returns the names of every metric received so far.
func (r *Receiver) MetricNames() map[string]bool {
	names := map[string]bool{}
	for _, md := range r.Metrics.AllMetrics() {
		for i := range md.ResourceMetrics().Len() {
			sms := md.ResourceMetrics().At(i).ScopeMetrics()
			for j := range sms.Len() {
				ms := sms.At(j).Metrics()
				for k := range ms.Len() {
					names[ms.At(k).Name()] = true
				}
			}
		}
	}
	return names
}

// Eventually polls cond every 10ms until it holds or timeout passes, then
// fails t with msg.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// FreeAddr returns a loopback host:port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

type nopHost struct{}

func (nopHost) GetExtensions() map[component.ID]component.Component { return nil }

// Certs are PEM files made for one test: a CA, a server certificate for
// 127.0.0.1 and localhost, and a client certificate, all signed by the CA.
type Certs struct {
	CAFile                string
	ServerCert, ServerKey string
	ClientCert, ClientKey string
	OtherCAFile           string // a CA that signed none of them
}

// NewCerts writes a fresh set of certificates into a temporary directory.
func NewCerts(t testing.TB) *Certs {
	t.Helper()
	dir := t.TempDir()
	c := &Certs{
		CAFile:      filepath.Join(dir, "ca.pem"),
		ServerCert:  filepath.Join(dir, "server.pem"),
		ServerKey:   filepath.Join(dir, "server-key.pem"),
		ClientCert:  filepath.Join(dir, "client.pem"),
		ClientKey:   filepath.Join(dir, "client-key.pem"),
		OtherCAFile: filepath.Join(dir, "other-ca.pem"),
	}
	caCert, caKey := makeCA(t, "otel-sensor test CA", c.CAFile)
	makeCA(t, "unrelated CA", c.OtherCAFile)
	makeLeaf(t, caCert, caKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:    []string{"localhost"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, c.ServerCert, c.ServerKey)
	makeLeaf(t, caCert, caKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "otel-sensor"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, c.ClientCert, c.ClientKey)
	return c
}

var serial atomic.Int64

func makeCA(t testing.TB, name, certFile string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial.Add(1)),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, certFile, "CERTIFICATE", der)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func makeLeaf(t testing.TB, ca *x509.Certificate, caKey *ecdsa.PrivateKey, tmpl *x509.Certificate, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(serial.Add(1))
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, certFile, "CERTIFICATE", der)
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, keyFile, "PRIVATE KEY", kb)
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
