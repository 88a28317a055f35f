package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

// runResult is what one run measured.
type runResult struct {
	Config, Transport string
	Rate              float64 // target events/s; 0: unthrottled
	Repeat            int

	Produced        int64 // the worker's successful opens
	WorkloadElapsed time.Duration
	WorkloadCPU     time.Duration
	// Received counts the workload's file.open records that arrived (OTLP)
	// or were written (file); -1: not counted (none).
	Received     int64
	TotalRecords int64 // every log record that arrived or was written
	// LastRecord is when the last of the workload's records arrived,
	// counted from the workload's start (OTLP only).
	LastRecord time.Duration
	// Drain is the time from the workload's end to its last record's
	// arrival (OTLP), or to the sensor going idle (file, none).
	Drain  time.Duration
	Counts finalCounts
	// Requests and Bytes are what the discard server got.
	Requests, Bytes int64

	// Wall time from the workload's start to its end (Load) and to the end
	// of the drain (All), and the CPU time used over each.
	LoadWall, AllWall       time.Duration
	SensorLoad, SensorAll   cpuTimes
	HarnessLoad, HarnessAll time.Duration
	// HarnessGCs is how many garbage collections the harness (the
	// receiver) made during the workload.
	HarnessGCs uint64
	// Machine is the CPU time of the whole machine during the workload.
	Machine machineCPU

	HWM int64 // VmHWM after the drain, before SIGTERM
	// PeakRSS is the last VmHWM read before the exit (every 20 ms): the
	// lifetime peak, shutdown included.
	PeakRSS  int64
	StopTook time.Duration
	Others   int // other otel-sensor processes on the machine during the run
	Warnings int // sensor log lines at WARN or ERROR
	Retries  int // runs before this one discarded as busy (-busy-limit)
}

func (r runResult) workloadRate() float64 {
	return float64(r.Produced) / r.WorkloadElapsed.Seconds()
}

// deliveredRate is the workload's records per second from its start to the
// arrival of the last one; 0 when not measured.
func (r runResult) deliveredRate() float64 {
	if r.LastRecord <= 0 {
		return 0
	}
	return float64(r.Received) / r.LastRecord.Seconds()
}

func (r runResult) cpuPerEvent() time.Duration {
	if r.Produced == 0 {
		return 0
	}
	return r.SensorAll.Total() / time.Duration(r.Produced)
}

// share is used/wall as a percentage of one CPU.
func share(used, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return 100 * used.Seconds() / wall.Seconds()
}

// foreignCPU is the CPU time others (not the sensor, the harness or the
// worker) used during the workload: the machine's busy time less ours.
func (r runResult) foreignCPU() time.Duration {
	return max(r.Machine.Busy-r.SensorLoad.Total()-r.HarnessLoad-r.WorkloadCPU, 0)
}

// otherEvents is how many events the sensor handled (accepted or dropped)
// besides the workload's, over its lifetime: other processes' activity.
func (r runResult) otherEvents() int64 {
	var n int64
	for _, v := range r.Counts.Events {
		n += v
	}
	return max(n+r.Counts.dropped()-r.Produced, 0)
}

// sustained says the run kept the target rate with nothing lost: the
// workload reached 99% of the target, every record arrived, nothing was
// dropped, and the last record arrived within sustainedDrain of the
// workload's end (the sensor kept up instead of working off a backlog).
func (r runResult) sustained() bool {
	return r.Rate > 0 && r.workloadRate() >= 0.99*r.Rate && r.Received == r.Produced &&
		r.Counts.dropped() == 0 && r.Drain <= sustainedDrain
}

const sustainedDrain = time.Second

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// line is the progress line of one run.
func (r runResult) line() string {
	recv := "-"
	if r.Received >= 0 {
		recv = fmt.Sprintf("%d", r.Received)
	}
	drops := "0"
	if len(r.Counts.Drops) > 0 {
		var ds []string
		for _, d := range r.Counts.Drops {
			ds = append(ds, d.String())
		}
		drops = strings.Join(ds, " ")
	}
	extra := ""
	if r.Requests > 0 {
		extra = fmt.Sprintf("; discard server: %d requests, %d bytes", r.Requests, r.Bytes)
	}
	return fmt.Sprintf("%-7s %-13s rate %-6s #%d: produced %d (%.0f/s), received %s, records %d, delivered %.0f/s, drain %v, dropped %s; "+
		"sensor CPU %.1f µs/event (user %v sys %v), %.0f%% of a CPU under load; harness %.0f%% (%d GCs), workload %.0f%%, others %.0f%% (steal %.0f%%), other events %d; "+
		"VmHWM %.1f MiB after the drain, %.1f MiB at exit; stop %v; other sensors %d; warnings %d%s",
		r.Config, r.Transport, rateLabel(r.Rate), r.Repeat, r.Produced, r.workloadRate(), recv, r.TotalRecords, r.deliveredRate(),
		r.Drain.Round(time.Millisecond), drops,
		float64(r.cpuPerEvent().Nanoseconds())/1000, r.SensorAll.User, r.SensorAll.System, share(r.SensorLoad.Total(), r.LoadWall),
		share(r.HarnessLoad, r.LoadWall), r.HarnessGCs, share(r.WorkloadCPU, r.WorkloadElapsed),
		share(r.foreignCPU(), r.LoadWall), share(r.Machine.Steal, r.LoadWall), r.otherEvents(),
		mib(r.HWM), mib(r.PeakRSS), r.StopTook.Round(time.Millisecond), r.Others, r.Warnings, extra)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// group is the runs of one configuration, transport and rate.
type group struct {
	config, transport string
	rate              float64
	runs              []runResult
}

func groupResults(results []runResult) []*group {
	var gs []*group
	for _, r := range results {
		i := slices.IndexFunc(gs, func(g *group) bool {
			return g.config == r.Config && g.transport == r.Transport && g.rate == r.Rate
		})
		if i < 0 {
			gs = append(gs, &group{config: r.Config, transport: r.Transport, rate: r.Rate})
			i = len(gs) - 1
		}
		gs[i].runs = append(gs[i].runs, r)
	}
	// Rates in ascending order, max last, within each config and transport
	// (kept in the order first run).
	pair := map[[2]string]int{}
	for _, g := range gs {
		k := [2]string{g.config, g.transport}
		if _, ok := pair[k]; !ok {
			pair[k] = len(pair)
		}
	}
	rateKey := func(r float64) float64 {
		if r == 0 {
			return math.Inf(1)
		}
		return r
	}
	slices.SortStableFunc(gs, func(a, b *group) int {
		return cmp.Or(cmp.Compare(pair[[2]string{a.config, a.transport}], pair[[2]string{b.config, b.transport}]),
			cmp.Compare(rateKey(a.rate), rateKey(b.rate)))
	})
	return gs
}

func (g *group) med(f func(runResult) float64) float64 {
	xs := make([]float64, len(g.runs))
	for i, r := range g.runs {
		xs[i] = f(r)
	}
	return median(xs)
}

func (g *group) maxOf(f func(runResult) float64) float64 {
	m := 0.0
	for _, r := range g.runs {
		m = max(m, f(r))
	}
	return m
}

func (g *group) sustainedRuns() int {
	n := 0
	for _, r := range g.runs {
		if r.sustained() {
			n++
		}
	}
	return n
}

// received says received/produced over the runs, or "—" when not counted.
func (g *group) received() string {
	var recv, prod int64
	for _, r := range g.runs {
		if r.Received < 0 {
			return "—"
		}
		recv += r.Received
		prod += r.Produced
	}
	if recv == prod {
		return fmt.Sprintf("all %d", prod)
	}
	return fmt.Sprintf("%d / %d", recv, prod)
}

// drops sums the drop counters over the runs by stage/reason.
func (g *group) drops() string {
	sum := map[string]int64{}
	for _, r := range g.runs {
		for _, d := range r.Counts.Drops {
			sum[d.Stage+"/"+d.Reason] += d.Count
		}
	}
	if len(sum) == 0 {
		return "0"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(sum)) {
		parts = append(parts, fmt.Sprintf("%d %s", sum[k], k))
	}
	return strings.Join(parts, ", ")
}

func (b *bench) report(w io.Writer, results []runResult) {
	o := b.opts
	fmt.Fprintf(w, "## throughput benchmark, %s UTC\n\n", time.Now().UTC().Format("2006-01-02 15:04"))
	fmt.Fprintf(w, "%s, %d CPUs (%s); sensor %s. Workload: one process opening and closing one file (file.opens=all: one file.open event per open) "+
		"for %v per run at each target rate, %d runs per rate, rates rotated. Medians over the runs; \"sustained\" = workload ≥ 99%% of the target, every record arrived, no drops, last record ≤ %v after the workload ended.\n\n",
		kernelRelease(), runtime.NumCPU(), cpuModel(), sensorVersions(o.sensors), o.duration, o.repeat, sustainedDrain)

	fmt.Fprintln(w, "| config | transport | target /s | workload /s | delivered /s | received | dropped | drain after load | sensor CPU per event | sensor CPU (% of one CPU) | harness CPU % | workload CPU % | others' CPU % | other events | sensor peak RSS (median / max) | sustained runs |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	gs := groupResults(results)
	for _, g := range gs {
		target := "max"
		if g.rate > 0 {
			target = fmt.Sprintf("%.0f", g.rate)
		}
		delivered := "—"
		if d := g.med(runResult.deliveredRate); d > 0 {
			delivered = fmt.Sprintf("%.0f", d)
		}
		sustained := fmt.Sprintf("%d/%d", g.sustainedRuns(), len(g.runs))
		if g.rate == 0 || g.transport == "none" || g.transport == "discard" {
			sustained = "—"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %.0f | %s | %s | %s | %v | %.1f µs | %.0f | %.0f | %.0f | %.0f | %.0f | %.1f / %.1f MiB | %s |\n",
			g.config, g.transport, target, g.med(runResult.workloadRate), delivered, g.received(), g.drops(),
			time.Duration(g.med(func(r runResult) float64 { return float64(r.Drain) })).Round(time.Millisecond),
			g.med(func(r runResult) float64 { return float64(r.cpuPerEvent().Nanoseconds()) / 1000 }),
			g.med(func(r runResult) float64 { return share(r.SensorLoad.Total(), r.LoadWall) }),
			g.med(func(r runResult) float64 { return share(r.HarnessLoad, r.LoadWall) }),
			g.med(func(r runResult) float64 { return share(r.WorkloadCPU, r.WorkloadElapsed) }),
			g.med(func(r runResult) float64 { return share(r.foreignCPU(), r.LoadWall) }),
			g.med(func(r runResult) float64 { return float64(r.otherEvents()) }),
			g.med(func(r runResult) float64 { return mib(r.PeakRSS) }), g.maxOf(func(r runResult) float64 { return mib(r.PeakRSS) }),
			sustained)
	}
	fmt.Fprintln(w)

	others, retried, busy := 0, 0, 0
	for _, r := range results {
		others = max(others, r.Others)
		retried += r.Retries
		if o.busy(r) {
			busy++
		}
	}
	if o.busyLimit > 0 {
		fmt.Fprintf(w, "Runs during which other jobs took more than %.0f%% of a CPU, or another sensor ran, were run again (up to %d times): %d runs discarded; %d of the runs above were still busy.\n\n",
			o.busyLimit, o.busyRetries, retried, busy)
	}
	if others > 0 {
		fmt.Fprintf(w, "Other otel-sensor processes ran during some runs (up to %d at once): they compete for the CPUs and see the workload too.\n\n", others)
	}

	// The verdict, per config and transport: the target rate of 100k
	// events/s (or the highest rate at or above it) sustained in every run
	// with an RSS under 64 MiB.
	const targetRate, targetRSS = 100000.0, 64 << 20
	for _, g := range gs {
		if g.rate < targetRate || (g.transport != "grpc" && g.transport != "http/protobuf") {
			continue
		}
		met := g.sustainedRuns() == len(g.runs) && g.maxOf(func(r runResult) float64 { return float64(r.PeakRSS) }) < targetRSS
		verdict := "NOT MET"
		if met {
			verdict = "MET"
		}
		fmt.Fprintf(w, "verdict: %s over %s at %.0f events/s: sustained in %d/%d runs, dropped %s, peak RSS max %.1f MiB (target ≥ 100000/s sustained, 0 drops, RSS < 64 MiB): %s\n",
			g.config, g.transport, g.rate, g.sustainedRuns(), len(g.runs), g.drops(), g.maxOf(func(r runResult) float64 { return mib(r.PeakRSS) }), verdict)
	}
}

// countInFile counts, in the console exporter's OTLP JSON lines at path,
// the records whose string attribute value is target (the workload's
// file.path: nothing else has it) and all log records (their eventName).
func countInFile(path, target string) (matched, total int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	quoted, _ := json.Marshal(target)
	counts, err := countOccurrences(f, 1<<20, []byte(`"stringValue":`+string(quoted)), []byte(`"eventName":`))
	if err != nil {
		return 0, 0, err
	}
	return counts[0], counts[1], nil
}

// countOccurrences counts the non-overlapping occurrences of each needle in
// r, reading chunk bytes at a time; a match across two chunks counts.
func countOccurrences(r io.Reader, chunk int, needles ...[]byte) ([]int64, error) {
	counts := make([]int64, len(needles))
	keep := 0
	for _, n := range needles {
		keep = max(keep, len(n)-1)
	}
	buf := make([]byte, 0, chunk+keep)
	var carried int // bytes at the start of buf already searched
	for {
		n, err := io.ReadFull(r, buf[len(buf):len(buf)+chunk])
		buf = buf[:len(buf)+n]
		for i, nd := range needles {
			// Count matches that end after the carried bytes: those lying
			// wholly in the carry were counted with the previous chunk.
			from := max(carried-len(nd)+1, 0)
			counts[i] += int64(bytes.Count(buf[from:], nd))
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return counts, nil
		}
		if err != nil {
			return counts, err
		}
		tail := min(keep, len(buf))
		copy(buf, buf[len(buf)-tail:])
		buf, carried = buf[:tail], tail
	}
}

func kernelRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "Linux"
	}
	return "Linux " + strings.TrimSpace(string(b))
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// sensorVersions names the builds under test.
func sensorVersions(sensors []sensorBin) string {
	var parts []string
	for _, sb := range sensors {
		v := sensorVersion(sb.path)
		if sb.label != "" {
			v = sb.label + " = " + sb.path + " (" + v + ")"
		}
		parts = append(parts, v)
	}
	return strings.Join(parts, ", ")
}

func sensorVersion(bin string) string {
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		return "version unknown"
	}
	return strings.TrimSpace(string(out))
}
