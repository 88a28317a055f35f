package export

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/otel-sensor/otel-sensor/internal/event"
)

// After a provider switch, what is exported says so: the resource's
// sensor.provider and the status metric name the new provider.
func TestSetProvider(t *testing.T) {
	var buf bytes.Buffer
	res := Resource{Version: "t", Attributes: []Attribute{{"service.name", "otel-sensor"}, {"sensor.provider", "ebpf"}}}
	p := NewPipeline(res, NewJSONLines(&buf), PipelineConfig{Provider: "ebpf", MetricsInterval: time.Hour})
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.SetProvider("netlink")
	p.Handle(&event.Event{Kind: event.KindExec, Time: time.Now()})
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		`{"key":"sensor.provider","value":{"stringValue":"netlink"}}`,
		`{"key":"provider","value":{"stringValue":"netlink"}}`,
	} {
		if !bytes.Contains([]byte(out), []byte(want)) {
			t.Errorf("output lacks %s", want)
		}
	}
	if bytes.Contains([]byte(out), []byte(`"stringValue":"ebpf"`)) {
		t.Error("the old provider is still named")
	}
}
