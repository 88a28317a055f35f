// Command overhead times fixed workloads without the sensor, with it, and
// under auditd watching the same syscalls, interleaved round by round, and
// prints for each workload a markdown table of medians and per-round ratios
// with a verdict against the target:
//
//	forkexec   fork+exec+wait of /bin/true      sensor/baseline ≤ 1.10, RSS < 48 MiB
//	openclose  open(O_CREAT|O_TRUNC) + close    ≤ 1.25, every file event enabled and exported
//	rename     rename a ↔ b                     ≤ 1.25, every file event enabled and exported
//	connect    loopback TCP connect + accept    ≤ 1.15
//
// The sensor must export every record the workload causes; the report
// counts them in its output and gives its drop counters. The fork+exec
// loop also runs with the sensor's netlink provider (mode sensor-netlink),
// for comparison; the other loops make no events that provider reports.
//
// It is a benchmark harness, not a test: it exits 0 whatever the figures
// are, and 1 only when something broke (the sensor failed to start or to
// exit 0, the workload failed). A mode that cannot run on this machine
// (auditd not installed or failing to start) is skipped and reported.
//
// Run it as root (`make bench`, or go run ./bench/overhead -h for the
// flags). The method is described in docs/performance.md.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// A mode prepares the machine before a timed round and tears it down after.
type mode interface {
	Name() string
	// Before sets the mode up; then the round's worker starts and warms
	// up, and the loop is timed after the settle pause. A mode may also
	// have a roundStarts() error method, called right before the loop.
	Before(ctx context.Context, round int) error
	// After tears the mode down and records what it measured in res.
	After(ctx context.Context, res *roundResult) error
	// Close undoes anything left behind (after a failure too).
	Close() error
}

// errSkipMode marks a failure that skips the mode instead of the benchmark.
var errSkipMode = errors.New("mode cannot run here")

type baselineMode struct{}

func (baselineMode) Name() string                              { return "baseline" }
func (baselineMode) Before(context.Context, int) error         { return nil }
func (baselineMode) After(context.Context, *roundResult) error { return nil }
func (baselineMode) Close() error                              { return nil }

type options struct {
	workloads []string
	rounds    int
	n         int // 0: each workload's own default
	warmup    int // -1: n/10
	sensor    string
	modes     []string
	exe       string
	settle    time.Duration
	keep      bool
}

// sensorModes are the modes that run the sensor, and how each one differs.
var sensorModes = map[string]struct {
	devNull, stopped bool
	overrides        []string // sensor environment set whatever the harness's says
	processOnly      bool     // runs only for workloads of process events
}{
	"sensor":            {},
	"sensor-netlink":    {overrides: []string{"OTEL_SENSOR_PROVIDER=netlink"}, processOnly: true},
	"sensor-devnull":    {devNull: true},
	"sensor-stopped":    {stopped: true},
	"sensor-opens-none": {overrides: []string{"OTEL_SENSOR_FILE__OPENS=none"}},
}

func main() {
	if spec, ok := os.LookupEnv(workerVar); ok {
		os.Exit(runWorker(spec))
	}
	os.Exit(run())
}

func run() int {
	var o options
	var modes, workloads string
	flag.StringVar(&workloads, "workload", "all", "comma-separated workloads: "+strings.Join(workloadNames, ", ")+", or all")
	flag.IntVar(&o.rounds, "rounds", 11, "rounds; each round runs every mode once")
	flag.IntVar(&o.n, "n", 0, "iterations per round (0: the workload's default: forkexec 2000, openclose 30000, rename 20000, connect 6000)")
	flag.IntVar(&o.warmup, "warmup", -1, "untimed iterations before each round's timed loop, in the same worker process (-1: a tenth of -n)")
	flag.StringVar(&o.sensor, "sensor", "bin/otel-sensor", "the sensor binary")
	flag.StringVar(&modes, "modes", "baseline,sensor,sensor-netlink,auditd", "comma-separated modes: baseline, sensor, sensor-netlink (the netlink provider; forkexec only, skipped for the others), auditd; for diagnosis also sensor-devnull (sensor output to /dev/null), sensor-stopped (sensor SIGSTOPped during the loop, so only its in-kernel work runs) and sensor-opens-none (file.opens=none); see docs/performance.md")
	flag.StringVar(&o.exe, "exe", "/bin/true", "forkexec: the program the workload execs (no arguments; must exit 0)")
	flag.DurationVar(&o.settle, "settle", 300*time.Millisecond, "pause after a mode is set up, before its round is timed")
	flag.BoolVar(&o.keep, "keep", false, "keep the sensor's output files and auditd's logs (their directory is printed)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "overhead: unexpected arguments %q\n", flag.Args())
		return 2
	}
	o.modes = strings.Split(modes, ",")
	o.workloads = strings.Split(workloads, ",")
	if workloads == "all" {
		o.workloads = workloadNames
	}
	if err := o.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "overhead:", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var verdicts []string
	for _, name := range o.workloads {
		v, err := bench(ctx, o, name)
		if err != nil {
			fmt.Fprintf(os.Stderr, "overhead: %s: %v\n", name, err)
			return 1
		}
		verdicts = append(verdicts, v)
	}
	if len(verdicts) > 1 {
		fmt.Println("## verdicts")
		fmt.Println()
		for _, v := range verdicts {
			fmt.Println(v)
		}
	}
	return 0
}

func (o *options) validate() error {
	if o.rounds < 1 || o.n < 0 || o.warmup < -1 {
		return errors.New("-rounds must be at least 1, -n at least 0, -warmup at least -1")
	}
	seen := map[string]bool{}
	for _, m := range o.modes {
		if _, ok := sensorModes[m]; !ok && m != "baseline" && m != "auditd" {
			return fmt.Errorf("-modes: unknown mode %q (baseline, sensor, sensor-netlink, sensor-devnull, sensor-stopped, sensor-opens-none, auditd)", m)
		}
		if seen[m] {
			return fmt.Errorf("-modes: %q twice", m)
		}
		seen[m] = true
	}
	if !seen["baseline"] {
		return errors.New("-modes must include baseline: the ratios are against it")
	}
	seen = map[string]bool{}
	for _, w := range o.workloads {
		if !slices.Contains(workloadNames, w) {
			return fmt.Errorf("-workload: unknown workload %q (%s, or all)", w, strings.Join(workloadNames, ", "))
		}
		if seen[w] {
			return fmt.Errorf("-workload: %q twice", w)
		}
		seen[w] = true
	}
	if len(o.modes) > 1 && os.Geteuid() != 0 {
		return errors.New("the sensor and auditd modes need root")
	}
	return nil
}

// bench runs every round of one workload, prints its report and returns
// its verdict line.
func bench(ctx context.Context, o options, name string) (verdict string, err error) {
	dir, err := os.MkdirTemp("", "otel-sensor-bench-"+name+"-")
	if err != nil {
		return "", err
	}
	defer func() {
		if o.keep {
			fmt.Fprintln(os.Stderr, "overhead: outputs kept in", dir)
		} else {
			os.RemoveAll(dir)
		}
	}()
	workDir := filepath.Join(dir, "work")
	if err := os.Mkdir(workDir, 0o700); err != nil {
		return "", err
	}
	w, err := newWorkload(name, workloadEnv{dir: workDir, exe: o.exe})
	if err != nil {
		return "", err
	}
	spec := workerSpec{Workload: name, N: o.n, Warmup: o.warmup, Dir: workDir, Exe: o.exe}
	if spec.N == 0 {
		spec.N = w.defaultN
	}
	if spec.Warmup < 0 {
		spec.Warmup = spec.N / 10
	}

	res := newResults(w, o.modes, o.rounds, spec.N, spec.Warmup)
	var ms []mode
	defer func() {
		for _, m := range ms {
			if cerr := m.Close(); cerr != nil {
				err = errors.Join(err, fmt.Errorf("%s: clean up: %w", m.Name(), cerr))
			}
		}
	}()
	for _, mname := range o.modes {
		var m mode
		switch sm, isSensor := sensorModes[mname]; {
		case mname == "baseline":
			m = baselineMode{}
		case isSensor && sm.processOnly && !w.processEvents:
			res.skipped[mname] = "the netlink provider reports no " + w.title + " events (process events only)"
			continue
		case isSensor:
			bin, err := filepath.Abs(o.sensor)
			if err != nil {
				return "", err
			}
			if _, err := os.Stat(bin); err != nil {
				return "", fmt.Errorf("-sensor: %w (run make build)", err)
			}
			env := sensorEnviron(os.Environ(), w.sensorEnv, sm.overrides)
			res.settings[mname] = sensorSettings(env)
			m = &sensorMode{name: mname, bin: bin, env: env, dir: dir, devNull: sm.devNull, stopped: sm.stopped,
				keep: o.keep, w: w}
		case mname == "auditd":
			am, err := newAuditdMode(dir, w, o.keep)
			if err != nil {
				res.skipped[mname] = err.Error()
				fmt.Fprintf(os.Stderr, "overhead: auditd mode skipped: %v\n", err)
				continue
			}
			m = am
		}
		ms = append(ms, m)
	}

	for round := 0; round < o.rounds; round++ {
		// Rotate the order each round so no mode always runs first or
		// right after another one's teardown.
		k := len(ms)
		for j := 0; j < k; j++ {
			m := ms[(round+j)%k]
			if _, skipped := res.skipped[m.Name()]; skipped {
				continue
			}
			if err := ctx.Err(); err != nil {
				return "", err
			}
			r, err := runRound(ctx, m, spec, round, o.settle)
			if errors.Is(err, errSkipMode) {
				res.skipped[m.Name()] = err.Error()
				fmt.Fprintf(os.Stderr, "overhead: %s mode skipped: %v\n", m.Name(), err)
				continue
			}
			if err != nil {
				return "", fmt.Errorf("round %d, %s: %w", round+1, m.Name(), err)
			}
			res.add(r)
			fmt.Fprintf(os.Stderr, "%s round %d/%d %-17s %s\n", name, round+1, o.rounds, m.Name(), progress(r, w, spec))
		}
	}
	// Tear everything down before reporting, so a failing restore is an error.
	for _, m := range ms {
		if err := m.Close(); err != nil {
			return "", fmt.Errorf("%s: clean up: %w", m.Name(), err)
		}
	}
	ms = nil

	res.write(os.Stdout, describeMachine(o))
	return res.verdict(), nil
}

// runRound sets the mode up, starts a worker (which sets the workload up
// and warms it up), pauses settle, times the worker's loop and tears the
// mode down.
func runRound(ctx context.Context, m mode, spec workerSpec, round int, settle time.Duration) (r *roundResult, err error) {
	r = &roundResult{Round: round, Mode: m.Name(), BPFPrograms: -1}
	if err := m.Before(ctx, round); err != nil {
		return nil, fmt.Errorf("set up: %w", err)
	}
	wk, err := startWorker(spec)
	if err != nil {
		return nil, errors.Join(err, m.After(ctx, r))
	}
	defer wk.kill()
	r.WorkerPID = wk.pid()
	time.Sleep(settle)
	if s, ok := m.(interface{ roundStarts() error }); ok {
		if err := s.roundStarts(); err != nil {
			return nil, errors.Join(fmt.Errorf("start round: %w", err), m.After(ctx, r))
		}
	}
	progs, perr := loadedBPFPrograms()
	r.Elapsed, r.CPU, err = wk.run()
	if after, aerr := loadedBPFPrograms(); perr == nil && aerr == nil {
		r.BPFPrograms = max(progs, after)
	}
	if aerr := m.After(ctx, r); aerr != nil {
		return nil, errors.Join(err, fmt.Errorf("tear down: %w", aerr))
	}
	return r, err
}

func progress(r *roundResult, w *workload, spec workerSpec) string {
	n, all := spec.N, spec.N+spec.Warmup
	perOp := func(d time.Duration) float64 { return d.Seconds() / float64(n) * 1e6 }
	s := fmt.Sprintf("%.3f s  %6.1f µs/%s (CPU %6.1f µs)  bpf progs %d", r.Elapsed.Seconds(), perOp(r.Elapsed), w.op, perOp(r.CPU), r.BPFPrograms)
	if sr := r.Sensor; sr != nil {
		s += fmt.Sprintf("  VmHWM %.1f MiB (at exit %.1f MiB)  CPU %.1f+%.1f µs/%s",
			mib(sr.PeakHWMKiB), mib(sr.LastHWMKiB), perOp(sr.CPURound), perOp(sr.CPUAfter), w.op)
		if sr.Counted {
			s += fmt.Sprintf("  exported %d/%d (all %s %d) dropped %d", sr.Exported, w.expected(all), strings.Join(w.events, "+"), sr.EventRecords, sr.Dropped)
			if sr.Incomplete > 0 {
				s += fmt.Sprintf(" (%d with sensor.incomplete)", sr.Incomplete)
			}
			if len(sr.Failed) > 0 {
				s += fmt.Sprintf(" failed %v", sr.Failed)
			}
		}
	}
	if a := r.Audit; a != nil {
		s += fmt.Sprintf("  logged %d/%d lost %d", a.Logged, all*w.auditPerIter, a.Lost)
	}
	return s
}

func describeMachine(o options) machine {
	m := machine{When: time.Now(), CPUs: runtime.NumCPU(), Sensor: "(not run)"}
	for _, name := range o.modes {
		if strings.HasPrefix(name, "sensor") {
			out, err := exec.Command(o.sensor, "version").Output()
			m.Sensor = strings.TrimSpace(string(out))
			if err != nil {
				m.Sensor = fmt.Sprintf("%s (version: %v)", o.sensor, err)
			}
			break
		}
	}
	var u syscall.Utsname
	if syscall.Uname(&u) == nil {
		m.Kernel = utsString(u.Release[:])
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUName = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	return m
}

func utsString(b []int8) string {
	s := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		s = append(s, byte(c))
	}
	return string(s)
}
