package export

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/extensionmiddleware"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// reconnect caps how long gRPC waits between attempts to connect again to
// a collector that went away. gRPC's own wait grows to 120 s, so a
// collector back after a long outage would get nothing for up to two
// minutes more while the queues fill; with the cap it waits no longer than
// the exports' retries do (otlp.retry.max_interval, 30 s by default).
//
// It is a client middleware in the Collector's sense: an extension the
// otlp exporter finds through its host by the ID its configuration names
// (configgrpc's Middlewares), whose dial options it adds.
type reconnect struct{ maxDelay time.Duration }

var (
	_ component.Component            = reconnect{}
	_ extensionmiddleware.GRPCClient = reconnect{}
)

var reconnectType = component.MustNewType("sensor_reconnect")

// reconnectID is the middleware's ID for the exporter of signal.
func reconnectID(signal string) component.ID {
	return component.MustNewIDWithName(reconnectType.String(), signal)
}

func (reconnect) Start(context.Context, component.Host) error { return nil }
func (reconnect) Shutdown(context.Context) error              { return nil }

func (r reconnect) GetGRPCClientOptions(context.Context) ([]grpc.DialOption, error) {
	b := backoff.DefaultConfig
	b.MaxDelay = min(b.MaxDelay, max(r.maxDelay, b.BaseDelay))
	return []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{Backoff: b, MinConnectTimeout: 20 * time.Second})}, nil
}

// exporterHost is the component.Host of the exporters: the extensions they
// look up by ID (the persistent queue's storage, the reconnect
// middlewares).
type exporterHost map[component.ID]component.Component

func (h exporterHost) GetExtensions() map[component.ID]component.Component { return h }
