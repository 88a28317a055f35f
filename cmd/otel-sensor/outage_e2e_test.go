package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otel-sensor/otel-sensor/internal/export"
	"github.com/otel-sensor/otel-sensor/internal/export/otlptest"
	"github.com/otel-sensor/otel-sensor/internal/kerneltest"
)

// The collector goes away while commands keep running, and the sensor
// (persistent queue on) is restarted once in between. When the collector
// returns, every command the sensor saw arrives — counted by a marker in
// argv — or the drop counters own up to what is missing; and the sensor's
// counters account for every process.exec record: accepted = arrived +
// dropped after acceptance.
//
// "30 s outage" is the case of issue 6: the queue holds everything and
// nothing may be missing. "bound hit" gives the queue 1 MiB, which the
// outage overfills: the batches it refuses must be counted exactly.
func TestOutage(t *testing.T) {
	kerneltest.Require(t)
	bin := buildSensor(t)
	for _, tc := range []struct {
		name         string
		outage       time.Duration
		restartAfter time.Duration // 0: no restart
		maxBytes     int
		markerEvery  time.Duration
		wantLoss     bool
	}{
		{"30s outage with a restart", 30 * time.Second, 5 * time.Second, 1 << 30, 20 * time.Millisecond, false},
		{"bound hit", 8 * time.Second, 0, 1 << 20, 5 * time.Millisecond, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got arrivals
			first := otlptest.Start(t, otlptest.Options{ConsumeLogs: got.add})
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", first.GRPCEndpoint())
			t.Setenv("OTEL_METRIC_EXPORT_INTERVAL", "2000")
			t.Setenv("OTEL_SENSOR_EXPORT__PERSISTENT_QUEUE__ENABLED", "true")
			t.Setenv("OTEL_SENSOR_EXPORT__PERSISTENT_QUEUE__DIRECTORY", filepath.Join(t.TempDir(), "queue"))
			t.Setenv("OTEL_SENSOR_EXPORT__PERSISTENT_QUEUE__MAX_BYTES", strconv.Itoa(tc.maxBytes))
			// Retry until delivered, and soon after the collector is back.
			t.Setenv("OTEL_SENSOR_OTLP__RETRY__INITIAL_INTERVAL", "250ms")
			t.Setenv("OTEL_SENSOR_OTLP__RETRY__MAX_INTERVAL", "1s")
			t.Setenv("OTEL_SENSOR_OTLP__RETRY__MAX_ELAPSED_TIME", "0")

			var stdout bytes.Buffer
			sensor := startSensor(t, bin, &stdout)
			markers := startMarkers(t, "outage-"+strconv.Itoa(os.Getpid())+"-"+strconv.Itoa(len(tc.name)), tc.markerEvery)
			otlptest.Eventually(t, 20*time.Second, func() bool { return got.markerCount() > 0 }, "no marker arrived before the outage")

			// The collector goes away.
			first.Stop()
			down := time.Now()
			markers.waitMore(t, 50)

			// The sensor restarts during the outage. Markers pause while
			// no sensor runs: a command nobody watched was never produced.
			var stops []time.Time
			if tc.restartAfter > 0 {
				waitUntil(t, down.Add(tc.restartAfter))
				markers.pause()
				stops = append(stops, time.Now())
				stopSensor(t, sensor, syscall.SIGTERM)
				t.Logf("the sensor stopped in %v during the outage", time.Since(stops[0]).Round(time.Millisecond))
				sensor = startSensor(t, bin, &stdout)
				markers.resume()
			}

			// The collector returns on the same ports.
			waitUntil(t, down.Add(tc.outage))
			second := otlptest.Start(t, otlptest.Options{GRPCAddr: first.GRPCAddr, HTTPAddr: first.HTTPAddr, ConsumeLogs: got.add})
			up := time.Now()
			markers.waitMore(t, 50)
			produced := markers.stop()

			// Wait until what the queue held is delivered: the markers
			// have all arrived, or (when some were dropped) the running
			// sensor reports its queue empty.
			waitDelivered(t, &got, up, func() bool {
				return got.hasAll(produced) || (tc.wantLoss && queueEmptiedAfter(second.Metrics.AllMetrics(), up))
			}, func() string {
				return fmt.Sprintf("%d of %d markers", len(produced)-len(got.missing(produced)), len(produced))
			})
			// Metrics go over a connection of their own, which gRPC may
			// still be backing off to reconnect after the outage: wait
			// until the returned collector has metrics of every run (the
			// stopped run's from disk), so that the last run's final
			// metrics are not left on disk at its stop with no run after.
			runs := len(stops) + 1
			otlptest.Eventually(t, deliveryCap, func() bool {
				return reportingRuns(second.Metrics.AllMetrics()) == runs
			}, "the returned collector did not get metrics of every run")
			stops = append(stops, time.Now())
			stopSensor(t, sensor, syscall.SIGTERM)
			if stdout.Len() != 0 {
				t.Errorf("stdout has %d bytes with OTLP configured", stdout.Len())
			}

			// Each run's last metrics: a run stopped in the outage kept
			// them on disk, and the next run sent them.
			var finals []sensorCounts
			otlptest.Eventually(t, 20*time.Second, func() bool {
				finals = lastCounts(append(first.Metrics.AllMetrics(), second.Metrics.AllMetrics()...), stops)
				return len(finals) == len(stops)
			}, "the last metrics of every run did not arrive")

			var accepted, droppedAfter, unnamedAfter, execDrops, unnamed, full int64
			for i, c := range finals {
				t.Logf("run %d: accepted %d process.exec; drops %v", i+1, c.accepted, c.drops)
				accepted += c.accepted
				for k, v := range c.drops {
					afterAcceptance := k.stage == "export" || (k.stage == "queue" && strings.HasPrefix(k.reason, "persistent_queue"))
					if k.reason == "persistent_queue_full" {
						full += v
					}
					switch k.eventName {
					case "process.exec":
						execDrops += v
						if afterAcceptance {
							droppedAfter += v
						}
					case "":
						unnamed += v
						if afterAcceptance {
							unnamedAfter += v
						}
					}
				}
			}
			arrived, duplicates := got.execCount()
			missing := got.missing(produced)
			t.Logf("markers: %d produced, %d arrived, %d missing; process.exec: %d accepted, %d arrived (%d twice), %d dropped after acceptance (+%d without event name)",
				len(produced), len(produced)-len(missing), len(missing), accepted, arrived, duplicates, droppedAfter, unnamedAfter)

			// Every marker arrived, or the counters own up to what is
			// missing.
			if int64(len(missing)) > execDrops+unnamed {
				t.Errorf("%d markers missing (%v ...) but only %d process.exec drops and %d without event name counted",
					len(missing), missing[:min(3, len(missing))], execDrops, unnamed)
			}
			// Every accepted process.exec arrived or was counted as
			// dropped.
			if arrived > accepted-droppedAfter || arrived < accepted-droppedAfter-unnamedAfter {
				t.Errorf("%d process.exec arrived; the counters say %d accepted, %d dropped after acceptance, %d more without event name",
					arrived, accepted, droppedAfter, unnamedAfter)
			}
			switch {
			case accepted == 0 || len(produced) < 100:
				t.Errorf("too little traffic to prove anything: %d accepted, %d markers", accepted, len(produced))
			case tc.wantLoss && full == 0:
				t.Errorf("the outage did not fill the %d-byte queue: nothing was tested", tc.maxBytes)
			case !tc.wantLoss && len(missing) > 0:
				t.Errorf("%d markers missing with a queue that had room", len(missing))
			}
		})
	}
}

// Delivery after the outage: on a quiet machine it takes seconds; one busy
// with other work (a file flood fills the queue too) delivers slower, so
// the wait goes on while records keep arriving, up to deliveryCap.
const (
	deliveryStall = 20 * time.Second
	deliveryCap   = 3 * time.Minute
)

// waitDelivered waits until done holds, failing when no record arrived for
// deliveryStall or deliveryCap passed since up. It logs the progress.
func waitDelivered(t *testing.T, got *arrivals, up time.Time, done func() bool, state func() string) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	records, moved, logged := got.recordCount(), time.Now(), time.Now()
	for !done() {
		now := <-tick.C
		if n := got.recordCount(); n > records {
			records, moved = n, now
		}
		if now.Sub(logged) >= 5*time.Second {
			t.Logf("%v after the collector returned: %d records, %s arrived", now.Sub(up).Round(time.Second), records, state())
			logged = now
		}
		switch {
		case now.Sub(moved) > deliveryStall:
			t.Fatalf("no record arrived for %v; %d records, %s arrived", deliveryStall, records, state())
		case now.Sub(up) > deliveryCap:
			t.Fatalf("not delivered %v after the collector returned; %d records, %s arrived", deliveryCap, records, state())
		}
	}
	t.Logf("delivered %v after the collector returned (%d records)", time.Since(up).Round(time.Millisecond), got.recordCount())
}

// firstPoints calls f with the first data point of every sum named name in
// all, and the metrics exported with it.
func firstPoints(all []pmetric.Metrics, name string, f func(dp pmetric.NumberDataPoint, ms pmetric.MetricSlice)) {
	for _, md := range all {
		for i := range md.ResourceMetrics().Len() {
			sms := md.ResourceMetrics().At(i).ScopeMetrics()
			for j := range sms.Len() {
				ms := sms.At(j).Metrics()
				for k := range ms.Len() {
					if m := ms.At(k); m.Name() == name && m.Sum().DataPoints().Len() > 0 {
						f(m.Sum().DataPoints().At(0), ms)
					}
				}
			}
		}
	}
}

// reportingRuns counts the sensor runs whose sensor.events are in all: one
// start time each.
func reportingRuns(all []pmetric.Metrics) int {
	starts := map[pcommon.Timestamp]bool{}
	firstPoints(all, "sensor.events", func(dp pmetric.NumberDataPoint, _ pmetric.MetricSlice) {
		starts[dp.StartTimestamp()] = true
	})
	return len(starts)
}

// queueEmptiedAfter reports whether a metrics export taken after since
// says the persistent queue is empty.
func queueEmptiedAfter(all []pmetric.Metrics, since time.Time) bool {
	emptied := false
	firstPoints(all, "sensor.exporter.persistent_queue.size", func(dp pmetric.NumberDataPoint, _ pmetric.MetricSlice) {
		emptied = emptied || dp.Timestamp().AsTime().After(since) && dp.IntValue() == 0
	})
	return emptied
}

// waitUntil blocks until the wall clock reaches when.
func waitUntil(t *testing.T, when time.Time) {
	t.Helper()
	if d := time.Until(when); d > 0 {
		<-time.After(d)
	}
}

// markers runs /bin/true PREFIX-n at an interval.
type markers struct {
	prefix string
	gate   sync.Mutex // held for each command, and by pause
	mu     sync.Mutex
	ran    []string
	quit   chan struct{}
	done   chan struct{}
}

func startMarkers(t *testing.T, prefix string, every time.Duration) *markers {
	m := &markers{prefix: prefix, quit: make(chan struct{}), done: make(chan struct{})}
	go m.run(every)
	t.Cleanup(func() { m.stop() })
	return m
}

func (m *markers) run(every time.Duration) {
	defer close(m.done)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-m.quit:
			return
		case <-tick.C:
		}
		m.gate.Lock()
		marker := m.prefix + "-" + strconv.Itoa(n)
		if err := exec.Command("/bin/true", marker).Run(); err == nil {
			m.mu.Lock()
			m.ran = append(m.ran, marker)
			m.mu.Unlock()
		}
		m.gate.Unlock()
	}
}

// pause returns once no marker command runs, and keeps it so.
func (m *markers) pause()  { m.gate.Lock() }
func (m *markers) resume() { m.gate.Unlock() }

func (m *markers) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.ran)
}

// waitMore waits until n more markers ran.
func (m *markers) waitMore(t *testing.T, n int) {
	t.Helper()
	want := m.count() + n
	otlptest.Eventually(t, 10*time.Second, func() bool { return m.count() >= want }, "the marker commands do not run")
}

// stop ends the commands and returns the markers that ran.
func (m *markers) stop() []string {
	select {
	case <-m.quit:
	default:
		close(m.quit)
	}
	<-m.done
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.ran...)
}

// arrivals counts what the receivers got: markers by name, and process.exec
// records by pid and time (so a record delivered twice is seen).
type arrivals struct {
	mu      sync.Mutex
	markers map[string]int
	execs   map[[2]int64]int
	records int
}

func (a *arrivals) add(ld plog.Logs) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.markers == nil {
		a.markers, a.execs = map[string]int{}, map[[2]int64]int{}
	}
	for i := range ld.ResourceLogs().Len() {
		sls := ld.ResourceLogs().At(i).ScopeLogs()
		for j := range sls.Len() {
			lrs := sls.At(j).LogRecords()
			a.records += lrs.Len()
			for k := range lrs.Len() {
				lr := lrs.At(k)
				if lr.EventName() != "process.exec" {
					continue
				}
				pid, _ := lr.Attributes().Get("process.pid")
				a.execs[[2]int64{pid.Int(), int64(lr.Timestamp())}]++
				if args, ok := lr.Attributes().Get("process.command_args"); ok && args.Type() == pcommon.ValueTypeSlice && args.Slice().Len() == 2 {
					a.markers[args.Slice().At(1).Str()]++
				}
			}
		}
	}
}

func (a *arrivals) recordCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.records
}

func (a *arrivals) markerCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.markers)
}

func (a *arrivals) hasAll(markers []string) bool { return len(a.missing(markers)) == 0 }

func (a *arrivals) missing(markers []string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, m := range markers {
		if a.markers[m] == 0 {
			out = append(out, m)
		}
	}
	return out
}

// execCount returns the distinct process.exec records and how many more
// arrived again.
func (a *arrivals) execCount() (distinct, duplicates int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, n := range a.execs {
		distinct++
		duplicates += int64(n - 1)
	}
	return distinct, duplicates
}

// dropKey is one series of sensor.events.dropped.
type dropKey struct{ stage, reason, eventName string }

func (k dropKey) String() string { return fmt.Sprintf("%s/%s/%s", k.stage, k.reason, k.eventName) }

// sensorCounts are one run's counters from its last metrics.
type sensorCounts struct {
	accepted         int64 // sensor.events{event.name=process.exec}
	drops            map[dropKey]int64
	persistentQueued int64
}

// lastCounts finds, for each run (the start time of its cumulative sums),
// the metrics it exported at shutdown: the first taken after the run was
// sent SIGTERM at stops[i]. Runs are ordered by start time; the result is
// complete only when every run has its last metrics.
func lastCounts(all []pmetric.Metrics, stops []time.Time) []sensorCounts {
	type point struct {
		start, ts pcommon.Timestamp
		ms        pmetric.MetricSlice
	}
	var points []point
	firstPoints(all, "sensor.events", func(dp pmetric.NumberDataPoint, ms pmetric.MetricSlice) {
		points = append(points, point{dp.StartTimestamp(), dp.Timestamp(), ms})
	})
	starts := map[pcommon.Timestamp]bool{}
	for _, p := range points {
		starts[p.start] = true
	}
	var order []pcommon.Timestamp
	for s := range starts {
		order = append(order, s)
	}
	sort.Slice(order, func(i, j int) bool { return order[i] < order[j] })
	if len(order) != len(stops) {
		return nil
	}
	var out []sensorCounts
	for i, start := range order {
		var final *point
		for j := range points {
			p := &points[j]
			if p.start == start && p.ts.AsTime().After(stops[i]) && (final == nil || p.ts > final.ts) {
				final = p
			}
		}
		if final == nil {
			return nil
		}
		c := sensorCounts{drops: map[dropKey]int64{}}
		for k := range final.ms.Len() {
			m := final.ms.At(k)
			switch m.Name() {
			case "sensor.events":
				for l := range m.Sum().DataPoints().Len() {
					dp := m.Sum().DataPoints().At(l)
					if v, _ := dp.Attributes().Get("event.name"); v.Str() == "process.exec" {
						c.accepted = dp.IntValue()
					}
				}
			case "sensor.events.dropped":
				for l := range m.Sum().DataPoints().Len() {
					dp := m.Sum().DataPoints().At(l)
					stage, _ := dp.Attributes().Get("stage")
					reason, _ := dp.Attributes().Get("reason")
					name, _ := dp.Attributes().Get("event.name")
					if dp.IntValue() != 0 {
						c.drops[dropKey{stage.Str(), reason.Str(), name.Str()}] = dp.IntValue()
					}
				}
			case "sensor.exporter.persistent_queue.size":
				c.persistentQueued = m.Sum().DataPoints().At(0).IntValue()
			}
		}
		out = append(out, c)
	}
	return out
}

// A persistent queue that cannot be opened stops the sensor at start, with
// exit code 2 and a message naming the key: a directory that cannot be
// created, or one another sensor holds.
func TestPersistentQueueDirectoryErrorExit2(t *testing.T) {
	kerneltest.Require(t)
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + otlptest.FreeAddr(t)
	held := t.TempDir()
	holder, err := export.NewOTLP(context.Background(), export.OTLPOptions{
		Logs:            &export.OTLPConfig{Endpoint: endpoint},
		PersistentQueue: &export.PersistentQueueConfig{Directory: held, MaxBytes: 1 << 20},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Shutdown(context.Background()) })
	for _, tc := range []struct{ name, dir string }{
		{"below a file", filepath.Join(file, "queue")},
		{"held by another sensor", held},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
			t.Setenv("OTEL_SENSOR_EXPORT__PERSISTENT_QUEUE__ENABLED", "true")
			t.Setenv("OTEL_SENSOR_EXPORT__PERSISTENT_QUEUE__DIRECTORY", tc.dir)
			var stdout, stderr bytes.Buffer
			if code := execute(context.Background(), []string{"run"}, &stdout, &stderr); code != 2 {
				t.Fatalf("exit %d, want 2 (stderr %q)", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), `"export.persistent_queue.directory"`) {
				t.Errorf("stderr %q does not name export.persistent_queue.directory", stderr.String())
			}
		})
	}
}
