package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"
)

func TestParseStat(t *testing.T) {
	// The command name may hold spaces and parentheses.
	line := "4242 (otel (sen) sor) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 37 0 0 20 0 12 0 100 1000000 5000 18446744073709551615\n"
	got, err := parseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if got.User != 2500*time.Millisecond || got.System != 370*time.Millisecond || got.Total() != 2870*time.Millisecond {
		t.Fatalf("got %+v", got)
	}
	for _, bad := range []string{"", "1 (x) S 1 2 3", "1 (x) S 1 2 3 4 5 6 7 8 9 10 x 37 0"} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q): no error", bad)
		}
	}
}

func TestParseStatusKB(t *testing.T) {
	status := "Name:\totel-sensor\nVmPeak:\t 1416140 kB\nVmHWM:\t   54272 kB\nVmRSS:\t   50000 kB\n"
	got, err := parseStatusKB([]byte(status), "VmHWM")
	if err != nil || got != 54272*1024 {
		t.Fatalf("VmHWM = %d, %v", got, err)
	}
	if _, err := parseStatusKB([]byte(status), "VmSwap"); err == nil {
		t.Error("missing key: no error")
	}
	if _, err := parseStatusKB([]byte("VmHWM:\t12 MB\n"), "VmHWM"); err == nil {
		t.Error("wrong unit: no error")
	}
}

func TestParseProcStat(t *testing.T) {
	got, err := parseProcStat([]byte("cpu  100 5 50 1000 20 3 2 7 0 0\ncpu0 50 2 25 500 10 1 1 3 0 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := machineCPU{Busy: (100 + 5 + 50 + 3 + 2 + 7) * clockTick, Idle: 1020 * clockTick, Steal: 7 * clockTick}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if _, err := parseProcStat([]byte("intr 1 2 3\n")); err == nil {
		t.Error("no cpu line: no error")
	}
}

func TestParseRates(t *testing.T) {
	got, err := parseRates("50k, 100000,1.5k,max")
	if err != nil || !slices.Equal(got, []float64{50000, 100000, 1500, 0}) {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, bad := range []string{"", "fast", "-5", "0", "1e9"} {
		if _, err := parseRates(bad); err == nil {
			t.Errorf("parseRates(%q): no error", bad)
		}
	}
}

func TestParseGOGC(t *testing.T) {
	got, err := parseGOGC("100, 400")
	if err != nil || !slices.Equal(got, []int{100, 400}) {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, bad := range []string{"", "off", "5", "100,", "20000"} {
		if _, err := parseGOGC(bad); err == nil {
			t.Errorf("parseGOGC(%q): no error", bad)
		}
	}
}

func TestCountOccurrences(t *testing.T) {
	needle := []byte(`"stringValue":"/tmp/x/target"`)
	var sb strings.Builder
	for i := range 1000 {
		sb.WriteString(`{"eventName":"file.open","attributes":[{"key":"file.path","value":`)
		if i%3 == 0 {
			sb.WriteString(`{"stringValue":"/tmp/x/target"}`)
		} else {
			sb.WriteString(`{"stringValue":"/tmp/x/target2"}`) // a longer path does not match
		}
		sb.WriteString("]}\n")
	}
	text := sb.String()
	// Every chunk size, small ones splitting needles across reads.
	for _, chunk := range []int{1, 7, 29, 30, 31, 64, 1000, 1 << 20} {
		got, err := countOccurrences(strings.NewReader(text), chunk, needle, []byte(`"eventName":`))
		if err != nil {
			t.Fatal(err)
		}
		if got[0] != 334 || got[1] != 1000 {
			t.Errorf("chunk %d: got %v, want [334 1000]", chunk, got)
		}
	}
}

func TestCountsFrom(t *testing.T) {
	batch := func(opens, dropped int64) pmetric.Metrics {
		md := pmetric.NewMetrics()
		ms := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
		ev := ms.AppendEmpty()
		ev.SetName("sensor.events")
		dp := ev.SetEmptySum().DataPoints().AppendEmpty()
		dp.SetIntValue(opens)
		dp.Attributes().PutStr("event.name", "file.open")
		dr := ms.AppendEmpty()
		dr.SetName("sensor.events.dropped")
		dps := dr.SetEmptySum().DataPoints()
		for _, d := range []drop{{"queue", "queue_full", "file.open", dropped}, {"kernel", "ringbuf_full", "", 0}, {"export", "rejected", "", 3}} {
			p := dps.AppendEmpty()
			p.SetIntValue(d.Count)
			p.Attributes().PutStr("stage", d.Stage)
			p.Attributes().PutStr("reason", d.Reason)
			if d.EventName != "" {
				p.Attributes().PutStr("event.name", d.EventName)
			}
		}
		return md
	}
	other := pmetric.NewMetrics()
	other.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetName("sensor.syscalls")

	// The last batch holding sensor.events wins; one without it is skipped.
	got := countsFrom([]pmetric.Metrics{batch(10, 1), batch(100, 7), other})
	want := []drop{{"export", "rejected", "", 3}, {"queue", "queue_full", "file.open", 7}}
	if !got.Found || got.Events["file.open"] != 100 || !slices.Equal(got.Drops, want) || got.dropped() != 10 {
		t.Fatalf("got %+v", got)
	}
	if countsFrom([]pmetric.Metrics{other}).Found {
		t.Error("found counts in metrics without sensor.events")
	}
}

func TestSustained(t *testing.T) {
	ok := runResult{Rate: 100000, Produced: 1000000, WorkloadElapsed: 10 * time.Second, Received: 1000000, Drain: 200 * time.Millisecond}
	if !ok.sustained() {
		t.Fatal("a complete run at the rate is not sustained")
	}
	for name, mod := range map[string]func(*runResult){
		"slow workload": func(r *runResult) { r.Produced, r.Received = 900000, 900000 },
		"missing":       func(r *runResult) { r.Received-- },
		"dropped":       func(r *runResult) { r.Counts.Drops = []drop{{"queue", "queue_full", "", 1}} },
		"backlog":       func(r *runResult) { r.Drain = 3 * time.Second },
		"unthrottled":   func(r *runResult) { r.Rate = 0 },
	} {
		r := ok
		mod(&r)
		if r.sustained() {
			t.Errorf("%s: sustained", name)
		}
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}
