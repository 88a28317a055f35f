// Command forkexec times a fixed fork+exec workload without the sensor,
// with it, and under auditd watching execve, interleaved round by round,
// and prints a markdown table of medians and per-round ratios with a
// verdict against the targets (sensor/baseline ≤ 1.10, sensor RSS < 48 MiB).
//
// It is a benchmark harness, not a test: it exits 0 whatever the figures
// are, and 1 only when something broke (the sensor failed to start or to
// exit 0, the workload failed). A mode that cannot run on this machine
// (auditd not installed or failing to start) is skipped and reported.
//
// Run it as root (`make bench`, or go run ./bench/forkexec -h for the flags).
// The method is described in docs/performance.md.
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
	"strings"
	"syscall"
	"time"
)

// A mode prepares the machine before a timed round and tears it down after.
type mode interface {
	Name() string
	// Before sets the mode up; the round is timed once it returns and the
	// settle pause has passed. A mode may also have a roundStarts() error
	// method, called right before the loop starts.
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
	rounds int
	n      int
	warmup int
	sensor string
	modes  []string
	exe    string
	settle time.Duration
	keep   bool
}

func main() {
	os.Exit(run())
}

func run() int {
	var o options
	var modes string
	flag.IntVar(&o.rounds, "rounds", 11, "rounds; each round runs every mode once")
	flag.IntVar(&o.n, "n", 2000, "fork+execs per round")
	flag.IntVar(&o.warmup, "warmup", 200, "untimed fork+execs before the first round")
	flag.StringVar(&o.sensor, "sensor", "bin/otel-sensor", "the sensor binary")
	flag.StringVar(&modes, "modes", "baseline,sensor,auditd", "comma-separated modes: baseline, sensor, auditd; for diagnosis also sensor-devnull (sensor output to /dev/null) and sensor-stopped (sensor SIGSTOPped during the loop, so only its in-kernel work runs; see docs/performance.md)")
	flag.StringVar(&o.exe, "exe", "/bin/true", "the program the workload execs (no arguments; must exit 0)")
	flag.DurationVar(&o.settle, "settle", 300*time.Millisecond, "pause after a mode is set up, before its round is timed")
	flag.BoolVar(&o.keep, "keep", false, "keep the sensor's output files and auditd's logs (their directory is printed)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "forkexec: unexpected arguments %q\n", flag.Args())
		return 2
	}
	o.modes = strings.Split(modes, ",")
	if err := o.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "forkexec:", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := bench(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "forkexec:", err)
		return 1
	}
	return 0
}

func (o *options) validate() error {
	if o.rounds < 1 || o.n < 1 || o.warmup < 0 {
		return errors.New("-rounds and -n must be at least 1, -warmup at least 0")
	}
	seen := map[string]bool{}
	for _, m := range o.modes {
		switch m {
		case "baseline", "sensor", "sensor-devnull", "sensor-stopped", "auditd":
		default:
			return fmt.Errorf("-modes: unknown mode %q (baseline, sensor, sensor-devnull, sensor-stopped, auditd)", m)
		}
		if seen[m] {
			return fmt.Errorf("-modes: %q twice", m)
		}
		seen[m] = true
	}
	if !seen["baseline"] {
		return errors.New("-modes must include baseline: the ratios are against it")
	}
	if len(o.modes) > 1 && os.Geteuid() != 0 {
		return errors.New("the sensor and auditd modes need root")
	}
	return nil
}

func bench(ctx context.Context, o options) (err error) {
	dir, err := os.MkdirTemp("", "forkexec-bench-")
	if err != nil {
		return err
	}
	defer func() {
		if o.keep {
			fmt.Fprintln(os.Stderr, "forkexec: outputs kept in", dir)
		} else {
			os.RemoveAll(dir)
		}
	}()

	w, err := newWorkload(o.exe, o.n)
	if err != nil {
		return err
	}
	defer w.Close()
	exeName := filepath.Base(o.exe)
	if real, err := filepath.EvalSymlinks(o.exe); err == nil {
		exeName = filepath.Base(real)
	}

	res := newResults(o.modes, o.rounds, o.n)
	var ms []mode
	defer func() {
		for _, m := range ms {
			if cerr := m.Close(); cerr != nil {
				err = errors.Join(err, fmt.Errorf("%s: clean up: %w", m.Name(), cerr))
			}
		}
	}()
	for _, name := range o.modes {
		var m mode
		switch name {
		case "baseline":
			m = baselineMode{}
		case "sensor", "sensor-devnull", "sensor-stopped":
			bin, err := filepath.Abs(o.sensor)
			if err != nil {
				return err
			}
			if _, err := os.Stat(bin); err != nil {
				return fmt.Errorf("-sensor: %w (run make build)", err)
			}
			m = &sensorMode{name: name, bin: bin, dir: dir, devNull: name == "sensor-devnull", stopped: name == "sensor-stopped",
				keep: o.keep, parent: os.Getpid(), exe: exeName}
		case "auditd":
			am, err := newAuditdMode(dir, os.Getpid(), exeName, o.keep)
			if err != nil {
				res.skipped[name] = err.Error()
				fmt.Fprintf(os.Stderr, "forkexec: auditd mode skipped: %v\n", err)
				continue
			}
			m = am
		}
		ms = append(ms, m)
	}

	if o.warmup > 0 {
		if _, _, err := w.run(o.warmup); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
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
				return err
			}
			r, err := runRound(ctx, m, w, round, o.settle)
			if errors.Is(err, errSkipMode) {
				res.skipped[m.Name()] = err.Error()
				fmt.Fprintf(os.Stderr, "forkexec: %s mode skipped: %v\n", m.Name(), err)
				continue
			}
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", round+1, m.Name(), err)
			}
			res.add(r)
			fmt.Fprintf(os.Stderr, "round %d/%d %-14s %s\n", round+1, o.rounds, m.Name(), progress(r, o.n))
		}
	}
	// Tear everything down before reporting, so a failing restore is an error.
	for _, m := range ms {
		if err := m.Close(); err != nil {
			return fmt.Errorf("%s: clean up: %w", m.Name(), err)
		}
	}
	ms = nil

	res.write(os.Stdout, describeMachine(o))
	return nil
}

func runRound(ctx context.Context, m mode, w *workload, round int, settle time.Duration) (*roundResult, error) {
	if err := m.Before(ctx, round); err != nil {
		return nil, fmt.Errorf("set up: %w", err)
	}
	time.Sleep(settle)
	if s, ok := m.(interface{ roundStarts() error }); ok {
		if err := s.roundStarts(); err != nil {
			return nil, errors.Join(fmt.Errorf("start round: %w", err), m.After(ctx, &roundResult{Round: round, Mode: m.Name()}))
		}
	}
	progs, perr := loadedBPFPrograms()
	elapsed, cpu, err := w.run(w.n)
	r := &roundResult{Round: round, Mode: m.Name(), Elapsed: elapsed, CPU: cpu, BPFPrograms: -1}
	if after, aerr := loadedBPFPrograms(); perr == nil && aerr == nil {
		r.BPFPrograms = max(progs, after)
	}
	if aerr := m.After(ctx, r); aerr != nil {
		return nil, errors.Join(err, fmt.Errorf("tear down: %w", aerr))
	}
	return r, err
}

func progress(r *roundResult, n int) string {
	s := fmt.Sprintf("%.3f s  %4.0f µs/exec (CPU %4.0f µs)  bpf progs %d", r.Elapsed.Seconds(), r.Elapsed.Seconds()/float64(n)*1e6, r.CPU.Seconds()/float64(n)*1e6, r.BPFPrograms)
	if sr := r.Sensor; sr != nil {
		s += fmt.Sprintf("  VmHWM %.1f MiB  ru_maxrss %.1f MiB  CPU %.1f+%.1f µs/exec",
			mib(sr.PeakHWMKiB), mib(sr.MaxRSSKiB),
			float64(sr.CPURound.Microseconds())/float64(n), float64(sr.CPUAfter.Microseconds())/float64(n))
		if sr.Counted {
			s += fmt.Sprintf("  exported %d/%d (all exec %d) dropped %d", sr.Exported, n, sr.ExecRecords, sr.Dropped)
		}
	}
	if a := r.Audit; a != nil {
		s += fmt.Sprintf("  logged %d/%d lost %d", a.Logged, n, a.Lost)
	}
	return s
}

func describeMachine(o options) machine {
	m := machine{When: time.Now(), CPUs: runtime.NumCPU(), Exe: o.exe, Sensor: "(not run)"}
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
