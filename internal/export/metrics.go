package export

import (
	"cmp"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"golang.org/x/sys/unix"

	"github.com/otel-sensor/otel-sensor/internal/probes"
)

// Metric names, fixed by the design contract (docs/metrics.md).
const (
	MetricEvents         = "sensor.events"
	MetricEventsDropped  = "sensor.events.dropped"
	MetricSyscalls       = "sensor.syscalls"
	MetricProviderStatus = "sensor.provider.status"
	MetricEventsExcluded = "sensor.events.excluded"

	// The sensor's own cost, with the semantic conventions' process metric
	// names (they describe the sensor's process).
	MetricCPUTime     = "process.cpu.time"
	MetricMemoryUsage = "process.memory.usage"

	MetricQueueSize               = "sensor.exporter.queue.size"
	MetricQueueCapacity           = "sensor.exporter.queue.capacity"
	MetricPersistentQueueSize     = "sensor.exporter.persistent_queue.size"
	MetricPersistentQueueCapacity = "sensor.exporter.persistent_queue.capacity"
)

// metrics builds the pipeline's metrics as of now: cumulative monotonic sums
// starting at p.start, and the provider status gauge.
func (p *Pipeline) metrics(now time.Time) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	res := p.res.Load()
	res.copyTo(rm.Resource())
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(ScopeName)
	sm.Scope().SetVersion(res.Version)
	ms := sm.Metrics()
	start := pcommon.NewTimestampFromTime(p.start)
	ts := pcommon.NewTimestampFromTime(now)
	point := func(dps pmetric.NumberDataPointSlice, v uint64) pmetric.NumberDataPoint {
		dp := dps.AppendEmpty()
		dp.SetStartTimestamp(start)
		dp.SetTimestamp(ts)
		dp.SetIntValue(int64(v))
		return dp
	}

	events := p.accepted.byName()
	if len(events) > 0 {
		dps := newSum(ms, MetricEvents, "{event}",
			"Events the provider delivered that were accepted into the export queue.")
		dps.EnsureCapacity(len(events))
		for _, name := range slices.Sorted(maps.Keys(events)) {
			point(dps, events[name]).Attributes().PutStr("event.name", name)
		}
	}

	if drops := p.drops(); len(drops) > 0 {
		dps := newSum(ms, MetricEventsDropped, "{event}",
			"Events lost, by the stage that lost them and why.")
		dps.EnsureCapacity(len(drops))
		for _, d := range drops {
			attrs := point(dps, d.Count).Attributes()
			attrs.EnsureCapacity(3)
			attrs.PutStr("stage", d.Stage)
			attrs.PutStr("reason", d.Reason)
			if d.EventName != "" {
				attrs.PutStr("event.name", d.EventName)
			}
		}
	}

	if p.cfg.Excluded != nil {
		if excluded := p.cfg.Excluded(); len(excluded) > 0 {
			dps := newSum(ms, MetricEventsExcluded, "{event}",
				"Events not reported because an exclusion matched, by the kind of exclusion; dropped in the kernel before a record was written.")
			for _, reason := range slices.Sorted(maps.Keys(excluded)) {
				point(dps, excluded[reason]).Attributes().PutStr("reason", reason)
			}
		}
	}

	if calls := p.syscalls(); len(calls) > 0 {
		dps := newSum(ms, MetricSyscalls, "{syscall}",
			"Calls of the syscalls the provider hooks.")
		dps.EnsureCapacity(len(calls))
		for _, c := range calls {
			attrs := point(dps, c.Count).Attributes()
			attrs.EnsureCapacity(2)
			attrs.PutInt("syscall.id", int64(c.ID))
			attrs.PutStr("syscall.name", c.Name)
		}
	}

	// Queue sizes are UpDownCounters, as the semantic conventions make
	// the SDK's queue sizes: non-monotonic cumulative sums.
	level := func(name, unit, description string, v int64) {
		m := ms.AppendEmpty()
		m.SetName(name)
		m.SetUnit(unit)
		m.SetDescription(description)
		sum := m.SetEmptySum()
		sum.SetIsMonotonic(false)
		sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		dp := sum.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(start)
		dp.SetTimestamp(ts)
		dp.SetIntValue(v)
	}
	level(MetricQueueSize, "{event}", "Events waiting in the export queue (in memory).", int64(len(p.queue)))
	level(MetricQueueCapacity, "{event}", "Events the export queue (in memory) holds at most.", int64(cap(p.queue)))
	if qr, ok := p.exp.(QueueReporter); ok {
		if size, capacity, ok := qr.QueueBytes(); ok {
			level(MetricPersistentQueueSize, "By", "Bytes of events in the persistent queue on disk: waiting or being sent.", size)
			level(MetricPersistentQueueCapacity, "By", "Bytes of events the persistent queue holds at most.", capacity)
		}
	}

	if user, system, err := cpuTime(); err == nil {
		dps := newSum(ms, MetricCPUTime, "s", "CPU time the sensor's process used, by mode.")
		dps.EnsureCapacity(2)
		for _, c := range []struct {
			mode string
			d    time.Duration
		}{{"user", user}, {"system", system}} {
			dp := dps.AppendEmpty()
			dp.SetStartTimestamp(start)
			dp.SetTimestamp(ts)
			dp.SetDoubleValue(c.d.Seconds())
			dp.Attributes().PutStr("cpu.mode", c.mode)
		}
	}
	if rss, err := residentBytes(); err == nil {
		level(MetricMemoryUsage, "By", "Resident memory of the sensor's process (RSS).", rss)
	}

	if provider := *p.provider.Load(); provider != "" {
		m := ms.AppendEmpty()
		m.SetName(MetricProviderStatus)
		m.SetUnit("1")
		m.SetDescription("1 for the active event provider.")
		dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(ts)
		dp.SetIntValue(1)
		dp.Attributes().PutStr("provider", provider)
	}
	return md
}

// newSum appends a cumulative monotonic sum and returns its data points.
func newSum(ms pmetric.MetricSlice, name, unit, description string) pmetric.NumberDataPointSlice {
	m := ms.AppendEmpty()
	m.SetName(name)
	m.SetUnit(unit)
	m.SetDescription(description)
	sum := m.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	return sum.DataPoints()
}

// drops merges the provider's drop counts, every one of them even when
// zero, with the pipeline's non-zero ones, summing series with the same
// stage, reason and event name, ordered by those.
func (p *Pipeline) drops() []probes.Drop {
	var provider []probes.Drop
	if p.cfg.Drops != nil {
		provider = p.cfg.Drops()
	}
	out := make([]probes.Drop, 0, len(provider)+4)
	add := func(d probes.Drop) {
		for i := range out {
			o := &out[i]
			if o.Stage == d.Stage && o.Reason == d.Reason && o.EventName == d.EventName {
				o.Count += d.Count
				return
			}
		}
		out = append(out, d)
	}
	for _, d := range provider {
		add(d)
	}
	if dc, ok := p.exp.(DropCounter); ok {
		for _, d := range dc.Drops() {
			add(d)
		}
	}
	own := []struct {
		stage, reason string
		counts        *kindCounts
	}{
		{stageQueue, reasonQueueFull, &p.queueFull},
		{stageQueue, reasonShutdown, &p.afterClose},
		{stageExport, reasonExportFailed, &p.exportFailed},
		{stageExport, reasonRejected, &p.rejected},
		{stageQueue, reasonPersistentQueueFull, &p.diskFull},
		{stageQueue, reasonPersistentQueueError, &p.diskError},
	}
	for _, o := range own {
		for name, n := range o.counts.byName() {
			add(probes.Drop{Stage: o.stage, Reason: o.reason, EventName: name, Count: n})
		}
	}
	slices.SortFunc(out, func(a, b probes.Drop) int {
		return cmp.Or(
			cmp.Compare(a.Stage, b.Stage),
			cmp.Compare(a.Reason, b.Reason),
			cmp.Compare(a.EventName, b.EventName))
	})
	return out
}

// syscalls returns the provider's non-zero syscall counts ordered by id.
func (p *Pipeline) syscalls() []probes.SyscallCount {
	if p.cfg.Syscalls == nil {
		return nil
	}
	var out []probes.SyscallCount
	for _, c := range p.cfg.Syscalls() {
		if c.Count != 0 {
			out = append(out, c)
		}
	}
	slices.SortStableFunc(out, func(a, b probes.SyscallCount) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// cpuTime is the process's user and system CPU time.
func cpuTime() (user, system time.Duration, err error) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0, 0, err
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano()), nil
}

// residentBytes is the process's resident set size (/proc/self/statm).
func residentBytes() (int64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, err
	}
	fields := strings.Fields(string(b))
	if len(fields) < 2 {
		return 0, fmt.Errorf("statm: %q", b)
	}
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("statm: %w", err)
	}
	return pages * int64(os.Getpagesize()), nil
}
