package main

import (
	"cmp"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otel-sensor/otel-sensor/internal/export/otlptest"
)

// receiver is the Collector's otlpreceiver on loopback (the one the tests
// use, package otlptest), counting log records as they arrive instead of
// holding them. Metrics are held: the sensor's last metrics carry its drop
// counters.
type receiver struct {
	*otlptest.Receiver
	path string // the workload's file.path

	total   atomic.Int64 // every log record
	matched atomic.Int64 // file.open records of path
	// lastMatch is when the last request with a record of path arrived
	// (UnixNano).
	lastMatch atomic.Int64
	tb        *harnessTB
}

// startReceiver starts a receiver that counts the file.open records whose
// file.path is path.
func startReceiver(path string) (r *receiver, err error) {
	r = &receiver{path: path, tb: &harnessTB{}}
	defer func() {
		if p := recover(); p != nil {
			f, ok := p.(tbFailure)
			if !ok {
				panic(p)
			}
			r.tb.cleanup()
			r, err = nil, fmt.Errorf("start receiver: %s", string(f))
		}
	}()
	r.Receiver = otlptest.Start(r.tb, otlptest.Options{ConsumeLogs: r.consume})
	return r, nil
}

// consume counts ld's records; called concurrently by the receiver.
func (r *receiver) consume(ld plog.Logs) {
	var n, m int64
	rls := ld.ResourceLogs()
	for i := range rls.Len() {
		sls := rls.At(i).ScopeLogs()
		for j := range sls.Len() {
			lrs := sls.At(j).LogRecords()
			n += int64(lrs.Len())
			for k := range lrs.Len() {
				lr := lrs.At(k)
				if lr.EventName() != "file.open" {
					continue
				}
				if v, ok := lr.Attributes().Get("file.path"); ok && v.Str() == r.path {
					m++
				}
			}
		}
	}
	r.total.Add(n)
	if m > 0 {
		r.matched.Add(m)
		r.lastMatch.Store(time.Now().UnixNano())
	}
}

func (r *receiver) stop() { r.tb.cleanup() }

// drop is one data point of sensor.events.dropped.
type drop struct {
	Stage, Reason, EventName string
	Count                    int64
}

func (d drop) String() string {
	s := d.Stage + "/" + d.Reason
	if d.EventName != "" {
		s += "/" + d.EventName
	}
	return fmt.Sprintf("%s=%d", s, d.Count)
}

// finalCounts are the sensor's last cumulative counters.
type finalCounts struct {
	Found bool // metrics with sensor.events arrived
	// Events is sensor.events by event.name.
	Events map[string]int64
	// Drops are the non-zero points of sensor.events.dropped.
	Drops []drop
}

func (f finalCounts) dropped() int64 {
	var n int64
	for _, d := range f.Drops {
		n += d.Count
	}
	return n
}

// lastCounts reads the sensor's counters from the last metrics received.
func (r *receiver) lastCounts() finalCounts {
	return countsFrom(r.Metrics.AllMetrics())
}

// countsFrom returns the counters of the last batch of metrics in mds
// holding sensor.events. The sums are cumulative, so the last batch has the
// totals; the sensor sends one more at shutdown.
func countsFrom(mds []pmetric.Metrics) finalCounts {
	for i := len(mds) - 1; i >= 0; i-- {
		fc := finalCounts{Events: map[string]int64{}}
		rms := mds[i].ResourceMetrics()
		for j := range rms.Len() {
			sms := rms.At(j).ScopeMetrics()
			for k := range sms.Len() {
				ms := sms.At(k).Metrics()
				for l := range ms.Len() {
					m := ms.At(l)
					if m.Type() != pmetric.MetricTypeSum {
						continue
					}
					dps := m.Sum().DataPoints()
					for p := range dps.Len() {
						dp := dps.At(p)
						str := func(k string) string {
							v, _ := dp.Attributes().Get(k)
							return v.Str()
						}
						switch m.Name() {
						case "sensor.events":
							fc.Found = true
							fc.Events[str("event.name")] += dp.IntValue()
						case "sensor.events.dropped":
							if dp.IntValue() != 0 {
								fc.Drops = append(fc.Drops, drop{str("stage"), str("reason"), str("event.name"), dp.IntValue()})
							}
						}
					}
				}
			}
		}
		if fc.Found {
			slices.SortFunc(fc.Drops, func(a, b drop) int {
				return cmp.Or(cmp.Compare(a.Stage, b.Stage), cmp.Compare(a.Reason, b.Reason), cmp.Compare(a.EventName, b.EventName))
			})
			return fc
		}
	}
	return finalCounts{}
}

// harnessTB lets a program use otlptest, whose helpers take a testing.TB:
// it implements the methods they call (Helper, Fatal, Fatalf, Cleanup);
// a failure panics with a tbFailure that startReceiver turns into an
// error. Any other method would panic on the nil embedded interface, which
// only a change of otlptest could cause.
type harnessTB struct {
	testing.TB
	cleanups []func()
}

type tbFailure string

func (*harnessTB) Helper()                           {}
func (*harnessTB) Fatal(args ...any)                 { panic(tbFailure(fmt.Sprint(args...))) }
func (*harnessTB) Fatalf(format string, args ...any) { panic(tbFailure(fmt.Sprintf(format, args...))) }
func (t *harnessTB) Cleanup(f func())                { t.cleanups = append(t.cleanups, f) }

// cleanup runs the registered functions, last first, once.
func (t *harnessTB) cleanup() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
	t.cleanups = nil
}
