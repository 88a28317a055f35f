package main

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// roundResult is one mode's timed round.
type roundResult struct {
	Round     int
	Mode      string
	WorkerPID int // the process that ran the loop
	Elapsed   time.Duration
	CPU       time.Duration // the workload's CPU time (harness + children)
	// BPFPrograms is the number of eBPF programs loaded on the machine
	// while the round ran (the larger of before and after; -1: unknown).
	BPFPrograms int
	Sensor      *sensorRound // sensor modes
	Audit       *auditRound  // auditd mode
}

// results holds every round of one workload by mode;
// results[mode][round] is nil when the mode did not run in that round.
type results struct {
	w        *workload
	modes    []string
	rounds   int
	n        int // timed iterations per round
	warmup   int // untimed iterations before them, in the same worker
	byMode   map[string][]*roundResult
	skipped  map[string]string   // mode → why it was skipped
	settings map[string][]string // sensor mode → its OTEL_SENSOR_* variables
}

func newResults(w *workload, modes []string, rounds, n, warmup int) *results {
	r := &results{w: w, modes: modes, rounds: rounds, n: n, warmup: warmup, byMode: map[string][]*roundResult{},
		skipped: map[string]string{}, settings: map[string][]string{}}
	for _, m := range modes {
		r.byMode[m] = make([]*roundResult, rounds)
	}
	return r
}

func (r *results) add(res *roundResult) { r.byMode[res.Mode][res.Round] = res }

// seconds returns the round times of mode, in seconds, in round order.
func (r *results) seconds(mode string) []float64 {
	var s []float64
	for _, res := range r.byMode[mode] {
		if res != nil {
			s = append(s, res.Elapsed.Seconds())
		}
	}
	return s
}

// ratios returns mode/baseline wall-clock time for every round where both
// ran: each round's pair ran back to back, so slow drift of the machine
// cancels.
func (r *results) ratios(mode string) []float64 {
	return r.pairwise(mode, func(res *roundResult) float64 { return res.Elapsed.Seconds() })
}

// cpuRatios is ratios for the workload's CPU time.
func (r *results) cpuRatios(mode string) []float64 {
	return r.pairwise(mode, func(res *roundResult) float64 { return res.CPU.Seconds() })
}

func (r *results) pairwise(mode string, v func(*roundResult) float64) []float64 {
	var s []float64
	base := r.byMode["baseline"]
	for i, res := range r.byMode[mode] {
		if res != nil && base != nil && base[i] != nil {
			s = append(s, v(res)/v(base[i]))
		}
	}
	return s
}

// cpuPerOpUS is the workload's CPU time per iteration, in µs, by round.
func (r *results) cpuPerOpUS(mode string) []float64 {
	var s []float64
	for _, res := range r.byMode[mode] {
		if res != nil {
			s = append(s, res.CPU.Seconds()/float64(r.n)*1e6)
		}
	}
	return s
}

func median(s []float64) float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	c := slices.Clone(s)
	slices.Sort(c)
	if len(c)%2 == 1 {
		return c[len(c)/2]
	}
	return (c[len(c)/2-1] + c[len(c)/2]) / 2
}

func minMax(s []float64) (lo, hi float64) {
	if len(s) == 0 {
		return math.NaN(), math.NaN()
	}
	return slices.Min(s), slices.Max(s)
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

// micros formats seconds as µs, with a decimal below 100 µs.
func micros(sec float64) string {
	us := sec * 1e6
	if us < 100 {
		return fmt.Sprintf("%.1f µs", us)
	}
	return fmt.Sprintf("%.0f µs", us)
}

// sensorSummary aggregates the sensor rounds of one mode.
type sensorSummary struct {
	rounds           int
	peakKiB          int64 // max over rounds of the last VmHWM before exit
	peakHWMKiB       int64 // max VmHWM sampled while the workload ran
	endRSS           []float64
	endExe, endBPF   []float64
	endAnon          []float64
	counted          bool
	exported, expect int
	minExported      int
	eventRecords     int
	dropped          int64
	dropSeries       []string
	failed           map[string]int
	incomplete       int            // exported records with sensor.incomplete
	incompleteAt     map[string]int // ... by attribute listed
	providers        []string       // the providers the rounds ran, sorted
	cpuRoundUS       []float64      // sensor CPU µs per iteration during the loop
	cpuTotalUS       []float64      // ... loop + drain + flush
	stop             []float64
}

func (r *results) sensorSummary(mode string) (sensorSummary, bool) {
	s := sensorSummary{minExported: math.MaxInt}
	for _, res := range r.byMode[mode] {
		if res == nil || res.Sensor == nil {
			continue
		}
		sr := res.Sensor
		s.rounds++
		s.peakKiB = max(s.peakKiB, sr.PeakHWMKiB, sr.LastHWMKiB)
		s.peakHWMKiB = max(s.peakHWMKiB, sr.PeakHWMKiB)
		s.endRSS = append(s.endRSS, mib(sr.EndRSSKiB))
		s.endExe = append(s.endExe, mib(sr.EndRSS.ExeKiB))
		s.endBPF = append(s.endBPF, mib(sr.EndRSS.BPFKiB))
		s.endAnon = append(s.endAnon, mib(sr.EndRSS.AnonKiB))
		s.cpuRoundUS = append(s.cpuRoundUS, float64(sr.CPURound.Microseconds())/float64(r.n))
		s.cpuTotalUS = append(s.cpuTotalUS, float64((sr.CPURound+sr.CPUAfter).Microseconds())/float64(r.n))
		s.stop = append(s.stop, sr.StopTime.Seconds())
		if p := cmp.Or(sr.Provider, "(not logged)"); !slices.Contains(s.providers, p) {
			s.providers = append(s.providers, p)
			slices.Sort(s.providers)
		}
		if sr.Counted {
			s.counted = true
			s.exported += sr.Exported
			s.expect += r.w.expected(r.n + r.warmup)
			s.minExported = min(s.minExported, sr.Exported)
			s.eventRecords += sr.EventRecords
			s.dropped += sr.Dropped
			s.failed = addCounts(s.failed, sr.Failed)
			s.incomplete += sr.Incomplete
			s.incompleteAt = addCounts(s.incompleteAt, sr.IncompleteAt)
			for _, d := range sr.DropSeries {
				s.dropSeries = append(s.dropSeries, fmt.Sprintf("round %d: %s", res.Round+1, d))
			}
		}
	}
	return s, s.rounds > 0
}

// addCounts adds b's counts to a's, making a when needed.
func addCounts(a, b map[string]int) map[string]int {
	for k, v := range b {
		if a == nil {
			a = map[string]int{}
		}
		a[k] += v
	}
	return a
}

// countList formats counts as "key: n, …", largest first.
func countList(c map[string]int) string {
	keys := slices.Collect(maps.Keys(c))
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(c[b], c[a]), cmp.Compare(a, b)) })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, c[k])
	}
	return strings.Join(parts, ", ")
}

// auditSummary aggregates the auditd rounds.
type auditSummary struct {
	rounds         int
	logged, expect int
	minLogged      int
	lost           int64
	waitedMS       int64
	waitReported   bool
	drain          []float64 // seconds auditd took after the loop to empty the kernel's queue
}

func (r *results) auditSummary() (auditSummary, bool) {
	s := auditSummary{minLogged: math.MaxInt}
	for _, res := range r.byMode["auditd"] {
		if res == nil || res.Audit == nil {
			continue
		}
		s.rounds++
		s.logged += res.Audit.Logged
		s.expect += (r.n + r.warmup) * r.w.auditPerIter
		s.minLogged = min(s.minLogged, res.Audit.Logged)
		s.lost += res.Audit.Lost
		s.waitedMS += res.Audit.BacklogWaitMS
		s.drain = append(s.drain, res.Audit.Drain.Seconds())
		s.waitReported = s.waitReported || res.Audit.WaitReported
	}
	return s, s.rounds > 0
}

// machine describes where the benchmark ran.
type machine struct {
	When    time.Time
	Kernel  string
	CPUs    int
	CPUName string
	Sensor  string // the sensor binary's `version` output
}

// write prints the markdown report and the verdict line.
func (r *results) write(w io.Writer, m machine) {
	op := r.w.op
	fmt.Fprintf(w, "## %s benchmark, %s\n\n", r.w.title, m.When.UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(w, "Linux %s, %d CPUs (%s); sensor %s. Workload: %d × %s per round, timed, after %d untimed in the same fresh worker process; %d rounds, modes interleaved %s with the order rotated every round.\n\n",
		m.Kernel, m.CPUs, m.CPUName, m.Sensor, r.n, r.w.loop, r.warmup, r.rounds, strings.Join(r.modes, ", "))

	fmt.Fprintf(w, "| mode | rounds | median round | per %s | min–max round | ratio vs baseline (median of per-round ratios) | ratio min–max | workload CPU per %s | CPU ratio (median) |\n", op, op)
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	for _, mode := range r.modes {
		secs := r.seconds(mode)
		if len(secs) == 0 {
			fmt.Fprintf(w, "| %s | 0 | — | — | — | — | — | — | — |\n", mode)
			continue
		}
		med := median(secs)
		lo, hi := minMax(secs)
		ratio, rrange, cpuRatio := "1 (reference)", "—", "1"
		if mode != "baseline" {
			rs := r.ratios(mode)
			ratio = fmt.Sprintf("**%.3f**", median(rs))
			a, b := minMax(rs)
			rrange = fmt.Sprintf("%.3f–%.3f", a, b)
			cpuRatio = fmt.Sprintf("%.3f", median(r.cpuRatios(mode)))
		}
		fmt.Fprintf(w, "| %s | %d | %.3f s | %s | %.3f–%.3f s | %s | %s | %s | %s |\n",
			mode, len(secs), med, micros(med/float64(r.n)), lo, hi, ratio, rrange, micros(median(r.cpuPerOpUS(mode))/1e6), cpuRatio)
	}
	fmt.Fprintln(w)

	events := strings.Join(r.w.events, "+")
	for _, mode := range r.modes {
		s, ok := r.sensorSummary(mode)
		if !ok {
			continue
		}
		fmt.Fprintf(w, "%s: provider %s", mode, strings.Join(s.providers, ", "))
		if set := r.settings[mode]; len(set) > 0 {
			fmt.Fprintf(w, "; ran with %s", strings.Join(set, " "))
		}
		fmt.Fprintln(w, ".")
		fmt.Fprintf(w, "%s: peak RSS %.1f MiB (max over rounds of the sensor's VmHWM, its lifetime peak, read every %s after SIGTERM until it exited, so start-up, drain and final flush included; sampled every %s while the workload ran: %.1f MiB); VmRSS at the end of a round: median %.1f MiB = %.1f MiB of the sensor's binary + %.1f MiB of eBPF maps (the ring buffer, its data pages mapped twice) + %.1f MiB other (Go heap, stacks).\n",
			mode, mib(s.peakKiB), exitEvery, rssEvery, mib(s.peakHWMKiB), median(s.endRSS), median(s.endExe), median(s.endBPF), median(s.endAnon))
		if s.counted {
			fmt.Fprintf(w, "%s: exported/expected %s records of the worker (%d per iteration, warm-up included): %d/%d (%.2f%%; worst round %d/%d); %d %s records in all (the machine is shared); sensor.events.dropped at exit, summed over rounds: %d",
				mode, events, r.w.perIter, s.exported, s.expect, 100*float64(s.exported)/float64(s.expect), s.minExported, r.w.expected(r.n+r.warmup), s.eventRecords, events, s.dropped)
			if len(s.dropSeries) > 0 {
				fmt.Fprintf(w, " (%s)", strings.Join(s.dropSeries, "; "))
			}
			if s.incomplete > 0 {
				fmt.Fprintf(w, "; of the exported records, %d (%.2f%%) lack attributes the provider could not fill, listed in sensor.incomplete (records listing each): %s",
					s.incomplete, 100*float64(s.incomplete)/float64(s.exported), countList(s.incompleteAt))
			}
			if len(s.failed) > 0 {
				fmt.Fprintf(w, "; besides, records of failed or interrupted calls by the worker, not counted as exported (event and error.type): %s", countList(s.failed))
			}
			fmt.Fprintln(w, ".")
		}
		fmt.Fprintf(w, "%s: sensor CPU time per %s (sum of its threads' schedstat run time; rusage at exit): median %s during the loop, %s including the drain and flush after it; SIGTERM to exit: median %.2f s.\n",
			mode, op, micros(median(s.cpuRoundUS)/1e6), micros(median(s.cpuTotalUS)/1e6), median(s.stop))
		fmt.Fprintln(w)
	}
	if s, ok := r.auditSummary(); ok {
		fmt.Fprintf(w, "auditd (%s): SYSCALL records of the worker's calls in its log (%d per iteration, warm-up included): %d/%d (worst round %d/%d); records the kernel lost: %d",
			strings.Join(auditRule(r.w), " "), r.w.auditPerIter, s.logged, s.expect, s.minLogged, (r.n+r.warmup)*r.w.auditPerIter, s.lost)
		if s.waitReported {
			fmt.Fprintf(w, "; time tasks waited for room in the audit backlog: %d ms in all", s.waitedMS)
		}
		fmt.Fprintf(w, "; after the loop auditd took a median %.2f s (max %.2f s) to take the records still queued in the kernel", median(s.drain), slices.Max(s.drain))
		fmt.Fprint(w, ".\n\n")
	}
	if line := r.foreignBPF(); line != "" {
		fmt.Fprintln(w, line)
		fmt.Fprintln(w)
	}
	for _, mode := range r.modes {
		if why, ok := r.skipped[mode]; ok {
			fmt.Fprintf(w, "%s: skipped: %s\n\n", mode, why)
		}
	}
	fmt.Fprintln(w, r.verdict())
}

// bpfBaseline is what the eBPF program counts of the rounds say: idle is
// the fewest programs seen in any baseline round (nothing of ours
// running), own what a sensor mode adds (the fewest more seen in any of its
// rounds), foreign[mode][round] how many more than that a round saw:
// another eBPF user on the shared machine, whose cost the round paid.
type bpfBaseline struct {
	idle, own int
	foreign   map[string]map[int]int
}

func (r *results) bpfPrograms() (bpfBaseline, bool) {
	least := func(mode string) int {
		n := -1
		for _, res := range r.byMode[mode] {
			if res != nil && res.BPFPrograms >= 0 && (n < 0 || res.BPFPrograms < n) {
				n = res.BPFPrograms
			}
		}
		return n
	}
	b := bpfBaseline{idle: least("baseline"), foreign: map[string]map[int]int{}}
	if b.idle < 0 {
		return b, false
	}
	for _, mode := range r.modes {
		want := b.idle
		if strings.HasPrefix(mode, "sensor") {
			if n := least(mode); n >= b.idle {
				want, b.own = n, max(b.own, n-b.idle) // the netlink mode loads none
			}
		}
		for _, res := range r.byMode[mode] {
			if res != nil && res.BPFPrograms > want {
				if b.foreign[mode] == nil {
					b.foreign[mode] = map[int]int{}
				}
				b.foreign[mode][res.Round] = res.BPFPrograms - want
			}
		}
	}
	return b, true
}

// cleanRatios is ratios over the rounds where neither the mode's round
// nor the baseline's ran with foreign eBPF programs.
func (r *results) cleanRatios(mode string, b bpfBaseline) []float64 {
	var s []float64
	base := r.byMode["baseline"]
	for i, res := range r.byMode[mode] {
		if res == nil || base[i] == nil || b.foreign[mode][i] > 0 || b.foreign["baseline"][i] > 0 {
			continue
		}
		s = append(s, res.Elapsed.Seconds()/base[i].Elapsed.Seconds())
	}
	return s
}

// foreignBPF reports the eBPF program counts and the rounds that ran with
// foreign programs, with the ratios recomputed without those rounds.
func (r *results) foreignBPF() string {
	b, ok := r.bpfPrograms()
	if !ok {
		return ""
	}
	s := fmt.Sprintf("eBPF programs loaded on the machine: %d with nothing running, %d more with the sensor; ", b.idle, b.own)
	if b.idle > 0 {
		s += fmt.Sprintf("the %d loaded in every round are something else's (on a quiet machine here: none; another sensor, say), and every round, baseline included, ran with them; ", b.idle)
	}
	var parts []string
	for _, mode := range r.modes {
		var rounds []string
		for i := 0; i < r.rounds; i++ {
			if n := b.foreign[mode][i]; n > 0 {
				rounds = append(rounds, fmt.Sprintf("%d (+%d)", i+1, n))
			}
		}
		if len(rounds) > 0 {
			parts = append(parts, mode+" rounds "+strings.Join(rounds, ", "))
		}
	}
	if len(parts) == 0 {
		return s + "no round ran with other eBPF programs loaded."
	}
	s += "rounds that ran with other programs loaded too (another eBPF user on the shared machine; the round paid for it): " + strings.Join(parts, "; ") + ". Without those rounds:"
	for _, mode := range r.modes {
		if mode == "baseline" {
			continue
		}
		rs := r.cleanRatios(mode, b)
		if len(rs) == 0 {
			s += fmt.Sprintf(" %s/baseline no clean pair;", mode)
			continue
		}
		s += fmt.Sprintf(" %s/baseline %.3f (%d pairs);", mode, median(rs), len(rs))
	}
	return strings.TrimSuffix(s, ";") + "."
}

// verdict is one line against the workload's targets; the auditd ratio is
// reported beside them for comparison. A ratio within the target counts
// only when the sensor exported every record of the workload: a sensor
// that keeps up by dropping events has not met it.
func (r *results) verdict() string {
	var parts []string
	s, haveSensor := r.sensorSummary("sensor")
	complete := haveSensor && s.counted && s.exported == s.expect
	if rs := r.ratios("sensor"); len(rs) > 0 {
		med := median(rs)
		p := fmt.Sprintf("sensor/baseline %.3f (target ≤ %.2f): ", med, r.w.target)
		switch {
		case med > r.w.target:
			p += met(false)
		case !complete && s.exported > s.expect:
			p += met(false) + " (the time is within the target, but more records were counted than expected: the benchmark's count is off)"
		case !complete:
			p += met(false) + fmt.Sprintf(" (the time is within the target, but %d of the worker's %d records were not exported)", s.expect-s.exported, s.expect)
		default:
			p += met(true)
		}
		if b, ok := r.bpfPrograms(); ok && (len(b.foreign["sensor"]) > 0 || len(b.foreign["baseline"]) > 0) {
			if cs := r.cleanRatios("sensor", b); len(cs) > 0 {
				p += fmt.Sprintf(" (%.3f over the %d pairs without foreign eBPF programs)", median(cs), len(cs))
			}
		}
		parts = append(parts, p)
	} else {
		parts = append(parts, "sensor/baseline: not measured")
	}
	if haveSensor {
		if r.w.targetRSSKiB > 0 {
			parts = append(parts, fmt.Sprintf("sensor peak RSS %.1f MiB (target < %d MiB): %s", mib(s.peakKiB), r.w.targetRSSKiB>>10, met(s.peakKiB < r.w.targetRSSKiB)))
		}
		if s.counted {
			p := fmt.Sprintf("exported %d/%d", s.exported, s.expect)
			if !complete {
				p += fmt.Sprintf(" (%.2f%%), sensor.events.dropped %d", 100*float64(s.exported)/float64(s.expect), s.dropped)
			}
			parts = append(parts, p)
		}
	}
	if rs := r.ratios("sensor-netlink"); len(rs) > 0 {
		p := fmt.Sprintf("sensor-netlink/baseline %.3f (comparison)", median(rs))
		if ns, _ := r.sensorSummary("sensor-netlink"); ns.counted {
			p += fmt.Sprintf(", exported %d/%d, %d of them with sensor.incomplete", ns.exported, ns.expect, ns.incomplete)
		}
		parts = append(parts, p)
	}
	if rs := r.ratios("auditd"); len(rs) > 0 {
		parts = append(parts, fmt.Sprintf("auditd/baseline %.3f (comparison)", median(rs)))
	} else if why, ok := r.skipped["auditd"]; ok {
		parts = append(parts, "auditd: skipped ("+why+")")
	}
	return "verdict, " + r.w.title + ": " + strings.Join(parts, "; ")
}

func met(ok bool) string {
	if ok {
		return "MET"
	}
	return "NOT MET"
}
