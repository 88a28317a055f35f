package export

import (
	"bytes"
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"

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

// The final metrics carry the sensor's own CPU time and memory.
func TestOwnCostMetrics(t *testing.T) {
	var buf bytes.Buffer
	p := NewPipeline(Resource{}, NewJSONLines(&buf), PipelineConfig{MetricsInterval: time.Hour})
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2_000_000; i++ { // spend some CPU
		_ = i * i
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	md, err := (&pmetric.JSONUnmarshaler{}).UnmarshalMetrics(bytes.TrimSpace(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	found := map[string]bool{}
	for i := range ms.Len() {
		m := ms.At(i)
		switch m.Name() {
		case MetricCPUTime:
			if m.Unit() != "s" || m.Sum().DataPoints().Len() != 2 || !m.Sum().IsMonotonic() {
				t.Errorf("cpu time: unit %q, %d points", m.Unit(), m.Sum().DataPoints().Len())
			}
			var total float64
			for j := range m.Sum().DataPoints().Len() {
				total += m.Sum().DataPoints().At(j).DoubleValue()
			}
			if total <= 0 {
				t.Errorf("cpu time %v", total)
			}
			found[m.Name()] = true
		case MetricMemoryUsage:
			if v := m.Sum().DataPoints().At(0).IntValue(); m.Unit() != "By" || v < 1<<20 || v > 1<<32 {
				t.Errorf("memory usage %d %s", v, m.Unit())
			}
			found[m.Name()] = true
		}
	}
	if !found[MetricCPUTime] || !found[MetricMemoryUsage] {
		t.Errorf("found %v", found)
	}
}
