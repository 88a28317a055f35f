package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	readyTimeout = 60 * time.Second
	stopTimeout  = 60 * time.Second
	// rssEvery is how often the sensor's /proc/PID/status is sampled
	// while the workload runs.
	rssEvery = 50 * time.Millisecond
	// exitEvery is how often it is sampled between SIGTERM and exit.
	exitEvery = 5 * time.Millisecond
	// clockTicks is USER_HZ, the unit of utime/stime in /proc/PID/stat:
	// 100 on every Linux architecture Go supports.
	clockTicks = 100
)

// sensorRound is what one sensor round measured besides its time.
type sensorRound struct {
	PeakHWMKiB int64        // max VmHWM seen while the round ran
	EndRSSKiB  int64        // VmRSS at the end of the round
	EndRSS     rssBreakdown // where that RSS is, from /proc/PID/smaps
	// LastHWMKiB is the last VmHWM read before the sensor exited (every
	// exitEvery after SIGTERM): its lifetime peak, drain and final flush
	// included. Not ru_maxrss: wait4 reports for the sensor the high-water
	// mark of the memory it ran in before its exec, which is the harness's
	// own (os/exec starts it with clone(CLONE_VM|CLONE_VFORK); the kernel
	// keeps that mm's peak in the new process's maxrss at exec), so
	// ru_maxrss was the harness's RSS whenever that was the larger.
	LastHWMKiB   int64
	CPURound     time.Duration  // sensor CPU (user+sys) during the timed loop
	CPUAfter     time.Duration  // sensor CPU from the end of the loop to exit (drain, flush)
	StopTime     time.Duration  // SIGTERM to exit
	Counted      bool           // false when the output was not kept (/dev/null)
	Exported     int            // the workload's records (workload.matchRecord)
	EventRecords int            // all records of the workload's event names (the machine is shared)
	Failed       map[string]int // the worker's records with error.type ("event error" → count)
	Provider     string         // the provider the sensor said it runs ("sensor running" log line)
	Incomplete   int            // exported records with sensor.incomplete
	IncompleteAt map[string]int // ... by attribute listed
	Dropped      int64          // final sum of sensor.events.dropped
	DropSeries   []string       // non-zero drop series, "stage/reason/event.name=N"
}

// sensorMode starts `otel-sensor run --output FILE` before the round and
// stops it with SIGTERM after it.
type sensorMode struct {
	name    string
	bin     string
	env     []string // the sensor's environment (sensorEnviron)
	dir     string   // per-round output files live here
	devNull bool     // write to /dev/null instead of a file
	stopped bool     // SIGSTOP the sensor while the loop runs (diagnostic)
	keep    bool     // keep output files
	w       *workload

	cmd      *exec.Cmd
	provider string // from the "sensor running" line
	out      string
	stderr   *tailBuffer
	done     chan error // cmd.Wait's result
	sampler  *rssSampler
	cpuStart time.Duration
}

func (m *sensorMode) Name() string { return m.name }

func (m *sensorMode) Before(ctx context.Context, round int) error {
	m.out = os.DevNull
	if !m.devNull {
		m.out = filepath.Join(m.dir, fmt.Sprintf("sensor-round%02d.jsonl", round))
		os.Remove(m.out)
	}
	cmd := exec.Command(m.bin, "run", "--output", m.out)
	cmd.Env = m.env
	cmd.Stdout = io.Discard
	// Its own process group: a ^C at the terminal reaches only the
	// harness, which then stops the sensor itself.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return fmt.Errorf("start %s: %w", m.bin, err)
	}
	pw.Close()
	m.cmd = cmd
	m.stderr = &tailBuffer{max: 4096}
	ready := make(chan struct{})
	go func() {
		// Read stderr to the end so the sensor never blocks on it.
		sc := bufio.NewScanner(pr)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			m.stderr.WriteLine(line)
			if !signalled && strings.Contains(line, "sensor running") {
				signalled = true
				m.provider = logValue(line, "provider")
				close(ready)
			}
		}
		pr.Close()
	}()
	m.done = make(chan error, 1)
	go func() { m.done <- cmd.Wait() }()

	select {
	case <-ready:
	case err := <-m.done:
		m.cmd = nil
		return fmt.Errorf("sensor exited before it was running (%v); stderr:\n%s", err, m.stderr)
	case <-time.After(readyTimeout):
		m.kill()
		return fmt.Errorf("sensor not running after %s; stderr:\n%s", readyTimeout, m.stderr)
	case <-ctx.Done():
		m.kill()
		return ctx.Err()
	}
	pid := cmd.Process.Pid
	cpu, err := procCPU(pid)
	if err != nil {
		m.kill()
		return err
	}
	m.cpuStart = cpu
	m.sampler = startRSSSampler(pid, rssEvery)
	return nil
}

// roundStarts is called right before the loop is timed.
func (m *sensorMode) roundStarts() error {
	pid := m.cmd.Process.Pid
	cpu, err := procCPU(pid)
	if err != nil {
		return err
	}
	m.cpuStart = cpu
	if m.stopped {
		// The eBPF programs keep running in the workload's context and
		// fill the ring buffer; nobody reads it until After.
		return m.cmd.Process.Signal(syscall.SIGSTOP)
	}
	return nil
}

func (m *sensorMode) After(ctx context.Context, res *roundResult) error {
	if m.cmd == nil {
		return errors.New("sensor is not running")
	}
	pid := m.cmd.Process.Pid
	sr := &sensorRound{Provider: m.provider}
	res.Sensor = sr
	if m.stopped {
		if err := m.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			m.kill()
			return fmt.Errorf("resume sensor: %w", err)
		}
	}
	// Last look at the running sensor, then stop it.
	st, serr := readStatus(pid)
	cpuEnd, cerr := procCPU(pid)
	peak := m.sampler.stop()
	if serr != nil || cerr != nil {
		m.kill()
		return fmt.Errorf("read sensor's /proc/%d: %w", pid, errors.Join(serr, cerr))
	}
	sr.PeakHWMKiB = max(peak, st.HWMKiB)
	sr.EndRSSKiB = st.RSSKiB
	if b, err := readRSSBreakdown(pid, m.bin); err == nil {
		sr.EndRSS = b
	}
	sr.CPURound = cpuEnd - m.cpuStart

	stopAt := time.Now()
	if err := m.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		m.kill()
		return fmt.Errorf("signal sensor: %w", err)
	}
	// VmHWM until the sensor is gone (the line disappears once its
	// memory is released at exit).
	sr.LastHWMKiB = sr.PeakHWMKiB
	tick := time.NewTicker(exitEvery)
	defer tick.Stop()
	timeout := time.After(stopTimeout)
	var werr error
wait:
	for {
		select {
		case werr = <-m.done:
			break wait
		case <-tick.C:
			if st, err := readStatus(pid); err == nil {
				sr.LastHWMKiB = max(sr.LastHWMKiB, st.HWMKiB)
			}
		case <-timeout:
			m.kill()
			return fmt.Errorf("sensor did not exit within %s of SIGTERM; stderr:\n%s", stopTimeout, m.stderr)
		}
	}
	sr.StopTime = time.Since(stopAt)
	ps := m.cmd.ProcessState
	m.cmd = nil
	if werr != nil || ps.ExitCode() != 0 {
		return fmt.Errorf("sensor exit after SIGTERM: %v (want exit 0); stderr:\n%s", werr, m.stderr)
	}
	sr.CPUAfter = ps.UserTime() + ps.SystemTime() - cpuEnd

	if m.devNull {
		return nil
	}
	f, err := os.Open(m.out)
	if err != nil {
		return fmt.Errorf("open sensor output: %w", err)
	}
	defer f.Close()
	c, err := countOutput(f, m.w, res.WorkerPID)
	if err != nil {
		return fmt.Errorf("read sensor output %s: %w", m.out, err)
	}
	sr.Counted = true
	sr.Exported = c.Exported
	sr.EventRecords = c.EventRecords
	sr.Failed = c.Failed
	sr.Incomplete, sr.IncompleteAt = c.Incomplete, c.IncompleteAttrs
	sr.Dropped = c.Dropped
	sr.DropSeries = c.DropSeries
	if !m.keep {
		os.Remove(m.out)
	}
	return nil
}

// logValue returns the value of key in a log/slog text line
// (key=value or key="value"), or "" when the line has none.
func logValue(line, key string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// sensorEnviron is the environment the sensor runs with: base (the
// harness's own), plus each KEY=VALUE of defaults whose KEY base does not
// set, with each KEY=VALUE of overrides replacing whatever was there.
func sensorEnviron(base, defaults, overrides []string) []string {
	env := slices.Clone(base)
	set := func(kv string, replace bool) {
		key, _, _ := strings.Cut(kv, "=")
		for i, e := range env {
			if k, _, _ := strings.Cut(e, "="); k == key {
				if replace {
					env[i] = kv
				}
				return
			}
		}
		env = append(env, kv)
	}
	for _, kv := range defaults {
		set(kv, false)
	}
	for _, kv := range overrides {
		set(kv, true)
	}
	return env
}

// sensorSettings are the OTEL_SENSOR_* variables of env, for the report.
func sensorSettings(env []string) []string {
	var s []string
	for _, e := range env {
		if strings.HasPrefix(e, "OTEL_SENSOR_") {
			s = append(s, e)
		}
	}
	slices.Sort(s)
	return s
}

// Close kills a sensor left running by a failed round.
func (m *sensorMode) Close() error {
	m.kill()
	return nil
}

func (m *sensorMode) kill() {
	if m.sampler != nil {
		m.sampler.stop()
	}
	if m.cmd == nil {
		return
	}
	m.cmd.Process.Kill()
	m.cmd.Process.Signal(syscall.SIGCONT)
	<-m.done
	m.cmd = nil
}

// procStatus holds the memory lines of /proc/PID/status, in KiB.
type procStatus struct{ RSSKiB, HWMKiB int64 }

func readStatus(pid int) (procStatus, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procStatus{}, err
	}
	return parseStatus(b)
}

func parseStatus(b []byte) (procStatus, error) {
	var st procStatus
	found := 0
	for _, line := range bytes.Split(b, []byte("\n")) {
		key, val, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		var dst *int64
		switch string(key) {
		case "VmRSS":
			dst = &st.RSSKiB
		case "VmHWM":
			dst = &st.HWMKiB
		default:
			continue
		}
		f := strings.Fields(string(val))
		if len(f) != 2 || f[1] != "kB" {
			return st, fmt.Errorf("status line %q: want \"N kB\"", line)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return st, fmt.Errorf("status line %q: %w", line, err)
		}
		*dst = n
		found++
	}
	if found != 2 {
		return st, errors.New("status has no VmRSS/VmHWM lines")
	}
	return st, nil
}

// rssBreakdown splits a process's RSS by mapping, in KiB.
type rssBreakdown struct {
	ExeKiB  int64 // pages of the sensor's own binary (file-backed, shared with the page cache)
	BPFKiB  int64 // eBPF maps mmapped by the sensor: the ring buffer's data pages are mapped twice
	AnonKiB int64 // everything else: Go heap, stacks, runtime
}

func readRSSBreakdown(pid int, exe string) (rssBreakdown, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return rssBreakdown{}, err
	}
	return parseSmaps(b, exe), nil
}

func parseSmaps(b []byte, exe string) rssBreakdown {
	var r rssBreakdown
	dst := &r.AnonKiB
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if !strings.HasSuffix(f[0], ":") { // a mapping's header line
			dst = &r.AnonKiB
			if len(f) >= 6 {
				name := strings.Join(f[5:], " ")
				switch {
				case name == exe:
					dst = &r.ExeKiB
				case strings.HasPrefix(name, "anon_inode:bpf"):
					dst = &r.BPFKiB
				}
			}
			continue
		}
		if f[0] == "Rss:" && len(f) >= 2 {
			if n, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				*dst += n
			}
		}
	}
	return r
}

// procCPU returns the CPU time pid's threads have used: the sum of their
// /proc/PID/task/TID/schedstat run times (nanoseconds), or, where schedstat
// is missing, utime+stime of /proc/PID/stat (10 ms ticks: too coarse for
// one round, but right on average).
func procCPU(pid int) (time.Duration, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tids, err := os.ReadDir(dir)
	if err == nil {
		var sum time.Duration
		for _, t := range tids {
			b, err := os.ReadFile(filepath.Join(dir, t.Name(), "schedstat"))
			if errors.Is(err, os.ErrNotExist) {
				continue // the thread ended in between
			}
			if err != nil {
				sum = -1
				break
			}
			ns, err := parseSchedstat(b)
			if err != nil {
				return 0, err
			}
			sum += ns
		}
		if sum >= 0 {
			return sum, nil
		}
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

// parseSchedstat reads the first field of a schedstat file: the time on
// CPU in nanoseconds.
func parseSchedstat(b []byte) (time.Duration, error) {
	f := strings.Fields(string(b))
	if len(f) != 3 {
		return 0, fmt.Errorf("schedstat %q: want 3 fields", b)
	}
	ns, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("schedstat: %w", err)
	}
	return time.Duration(ns), nil
}

func parseStatCPU(b []byte) (time.Duration, error) {
	// The command name (field 2) is in parentheses and may hold spaces:
	// count fields after the last ')'. utime and stime are fields 14, 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("stat: no ')' after the command name")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("stat: %d fields after the command name, want at least 13", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// rssSampler reads VmHWM of a process periodically and keeps the maximum.
type rssSampler struct {
	quit chan struct{}
	peak chan int64
	once sync.Once
	last int64
}

func startRSSSampler(pid int, every time.Duration) *rssSampler {
	s := &rssSampler{quit: make(chan struct{}), peak: make(chan int64, 1)}
	go func() {
		var peak int64
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if st, err := readStatus(pid); err == nil {
				peak = max(peak, st.HWMKiB)
			}
			select {
			case <-s.quit:
				s.peak <- peak
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// stop ends the sampling and returns the peak VmHWM seen, in KiB.
func (s *rssSampler) stop() int64 {
	s.once.Do(func() {
		close(s.quit)
		s.last = <-s.peak
	})
	return s.last
}

// tailBuffer keeps the last max bytes of the lines written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) WriteLine(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, s...)
	t.b = append(t.b, '\n')
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
