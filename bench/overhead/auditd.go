package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// auditRule is what auditd watches in the auditd mode: every call of the
// workload's syscalls by 64-bit processes, system-wide, as the sensor
// hooks them system-wide.
func auditRule(w *workload) []string {
	rule := []string{"-a", "always,exit", "-F", "arch=b64"}
	for _, s := range w.auditSyscalls {
		rule = append(rule, "-S", s)
	}
	return rule
}

// neverTask is the rule that keeps the kernel from giving new tasks an
// audit context. Once audit has been enabled on a boot, the kernel
// allocates an audit context for every new task and sends its syscalls
// through the audit entry/exit hooks, even with audit disabled again and
// no rules loaded (kernel/auditsc.c, audit_alloc: only audit_ever_enabled
// is checked, and a task filter returning "never" is the one way out).
// Between auditd rounds this rule keeps the baseline and sensor rounds
// free of that cost.
var neverTask = []string{"-a", "never,task"}

// backlogLimit is the kernel's audit backlog while auditd runs, the value
// Debian's default rules file (/etc/audit/rules.d/audit.rules) sets.
const backlogLimit = "8192"

// auditRound is what one auditd round measured besides its time.
type auditRound struct {
	Logged        int   // the workload's SYSCALL records in auditd's log (workload.matchAudit)
	Lost          int64 // records the kernel lost during the round (auditctl -s: lost)
	BacklogWaitMS int64 // time tasks waited for room in the backlog (backlog_wait_time_actual)
	WaitReported  bool  // the kernel reports backlog_wait_time_actual
	// Drain is how long auditd took, after the loop, to take the records
	// still queued in the kernel.
	Drain time.Duration
}

// auditStatus is the part of `auditctl -s` the benchmark reads.
type auditStatus struct {
	Enabled, PID, BacklogLimit, Lost int64
	// Backlog is the number of records queued in the kernel for auditd.
	Backlog int64
	// BacklogWaitActual is the total time, in ms, tasks have waited for
	// room in the backlog (kernels from 5.9 report it; -1 when absent).
	BacklogWaitActual int64
}

// auditdMode runs auditd (in the foreground, as its own child) with
// Debian's auditd.conf, except that the log goes to the benchmark's
// directory and is never rotated, and the workload's rule loaded.
type auditdMode struct {
	confDir string
	logFile string
	w       *workload
	keep    bool
	initial auditStatus
	touched bool // audit state was changed and must be restored

	cmd      *exec.Cmd
	stderr   *tailBuffer
	done     chan error
	lostFrom int64
	waitFrom int64
}

// newAuditdMode checks that auditd can be used here without disturbing
// anything: installed, no audit daemon running, no rules loaded (other than
// the "never,task" rule an earlier run of this benchmark leaves), audit not
// locked. Anything else skips the mode.
func newAuditdMode(dir string, w *workload, keep bool) (*auditdMode, error) {
	for _, bin := range []string{"auditd", "auditctl"} {
		if _, err := exec.LookPath(bin); err != nil {
			return nil, fmt.Errorf("%s is not installed (make deps-bench installs Debian's auditd)", bin)
		}
	}
	st, err := readAuditStatus()
	if err != nil {
		return nil, err
	}
	if st.PID != 0 {
		return nil, fmt.Errorf("an audit daemon is already running (pid %d); leaving it alone", st.PID)
	}
	if st.Enabled == 2 {
		return nil, errors.New("the audit configuration is locked (enabled 2)")
	}
	rules, err := auditRules()
	if err != nil {
		return nil, err
	}
	for _, r := range rules {
		if r != strings.Join(neverTask, " ") {
			return nil, fmt.Errorf("audit rules are loaded (%q); leaving them alone", r)
		}
	}
	m := &auditdMode{
		confDir: filepath.Join(dir, "auditd"),
		logFile: filepath.Join(dir, "auditd", "audit.log"),
		w:       w,
		keep:    keep,
		initial: st,
	}
	if err := m.writeConfig(); err != nil {
		return nil, fmt.Errorf("auditd configuration: %w", err)
	}
	return m, nil
}

func (m *auditdMode) Name() string { return "auditd" }

// writeConfig copies /etc/audit/auditd.conf with the log redirected.
func (m *auditdMode) writeConfig() error {
	base, err := os.ReadFile("/etc/audit/auditd.conf")
	if err != nil {
		return err
	}
	override := map[string]string{
		"log_file":            m.logFile,
		"max_log_file_action": "IGNORE",
	}
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(base))
	for sc.Scan() {
		line := sc.Text()
		if k, _, ok := strings.Cut(line, "="); ok {
			if v, ok := override[strings.TrimSpace(k)]; ok {
				line = strings.TrimSpace(k) + " = " + v
				delete(override, strings.TrimSpace(k))
			}
		}
		out.WriteString(line + "\n")
	}
	for k, v := range override {
		fmt.Fprintf(&out, "%s = %s\n", k, v)
	}
	if err := os.MkdirAll(m.confDir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(m.confDir, "auditd.conf"), out.Bytes(), 0o600)
}

func (m *auditdMode) Before(ctx context.Context, round int) error {
	os.Remove(m.logFile)
	m.touched = true
	cmd := exec.Command("auditd", "-n", "-s", "nochange", "-c", m.confDir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // see sensorMode.Before
	m.stderr = &tailBuffer{max: 4096}
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return fmt.Errorf("%w: start auditd: %v", errSkipMode, err)
	}
	pw.Close()
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			m.stderr.WriteLine(sc.Text())
		}
		pr.Close()
	}()
	m.cmd = cmd
	m.done = make(chan error, 1)
	go func() { m.done <- cmd.Wait() }()

	// auditd is ready once the kernel knows it as the audit daemon.
	deadline := time.Now().Add(readyTimeout)
	for {
		st, err := readAuditStatus()
		if err != nil {
			m.stop()
			return err
		}
		if st.PID == int64(cmd.Process.Pid) {
			break
		}
		select {
		case err := <-m.done:
			m.cmd = nil
			return fmt.Errorf("%w: auditd exited at start (%v): %s", errSkipMode, err, m.stderr)
		case <-ctx.Done():
			m.stop()
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			m.stop()
			return fmt.Errorf("%w: auditd not registered with the kernel after %s: %s", errSkipMode, readyTimeout, m.stderr)
		}
	}
	for _, args := range [][]string{{"-D"}, {"-b", backlogLimit}, auditRule(m.w), {"-e", "1"}} {
		if err := auditctl(args...); err != nil {
			m.stop()
			return err
		}
	}
	st, err := readAuditStatus()
	if err != nil {
		m.stop()
		return err
	}
	m.lostFrom = st.Lost
	m.waitFrom = st.BacklogWaitActual
	return nil
}

func (m *auditdMode) After(ctx context.Context, res *roundResult) error {
	ar := &auditRound{}
	res.Audit = ar
	st, err := readAuditStatus()
	if err != nil {
		m.stop()
		return err
	}
	ar.Lost = st.Lost - m.lostFrom
	if st.BacklogWaitActual >= 0 {
		ar.BacklogWaitMS, ar.WaitReported = st.BacklogWaitActual-m.waitFrom, true
	}
	// Let auditd take what the kernel still holds for it before stopping
	// it: records queued when it exits would be missing from its log.
	drainStart := time.Now()
	for st.Backlog > 0 && time.Since(drainStart) < stopTimeout {
		time.Sleep(10 * time.Millisecond)
		if st, err = readAuditStatus(); err != nil {
			m.stop()
			return err
		}
	}
	ar.Drain = time.Since(drainStart)
	// auditd writes what it took with a short delay (its flush
	// settings); a record taken just before SIGTERM was seen missing.
	time.Sleep(100 * time.Millisecond)
	if err := m.quiesce(); err != nil {
		m.stop()
		return err
	}
	if err := m.stop(); err != nil {
		return err
	}
	f, err := os.Open(m.logFile)
	if err != nil {
		return fmt.Errorf("auditd log: %w", err)
	}
	defer f.Close()
	n, err := countAudit(f, func(r auditRecord) bool { return m.w.matchAudit(r, res.WorkerPID) })
	if err != nil {
		return fmt.Errorf("auditd log %s: %w", m.logFile, err)
	}
	ar.Logged = n
	if m.keep {
		os.Rename(m.logFile, fmt.Sprintf("%s.round%02d", m.logFile, res.Round))
	}
	return nil
}

// quiesce disables audit and unloads the workload's rule; "never,task" keeps
// the tasks the next rounds create free of audit contexts.
func (m *auditdMode) quiesce() error {
	for _, args := range [][]string{{"-e", "0"}, {"-D"}, neverTask, {"-b", strconv.FormatInt(m.initial.BacklogLimit, 10)}} {
		if err := auditctl(args...); err != nil {
			return err
		}
	}
	return nil
}

// stop ends auditd (SIGTERM: it writes what it holds and exits).
func (m *auditdMode) stop() error {
	if m.cmd == nil {
		return nil
	}
	defer func() { m.cmd = nil }()
	m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-m.done:
		if err != nil {
			return fmt.Errorf("auditd exit after SIGTERM: %v: %s", err, m.stderr)
		}
		return nil
	case <-time.After(stopTimeout):
		m.cmd.Process.Kill()
		<-m.done
		return fmt.Errorf("auditd did not exit within %s of SIGTERM", stopTimeout)
	}
}

// Close stops auditd if it still runs and leaves audit as it was found:
// no daemon, the enabled flag as before (0 on a machine without auditd),
// the backlog limit as before, and only the "never,task" rule loaded (see
// neverTask for why it is left in place).
func (m *auditdMode) Close() error {
	if !m.touched {
		return nil
	}
	err := m.stop()
	for _, args := range [][]string{{"-D"}, neverTask, {"-b", strconv.FormatInt(m.initial.BacklogLimit, 10)}, {"-e", strconv.FormatInt(m.initial.Enabled, 10)}} {
		err = errors.Join(err, auditctl(args...))
	}
	st, serr := readAuditStatus()
	if serr == nil && st.PID != 0 {
		serr = fmt.Errorf("an audit daemon (pid %d) is still registered", st.PID)
	}
	m.touched = false
	return errors.Join(err, serr)
}

func auditctl(args ...string) error {
	out, err := exec.Command("auditctl", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("auditctl %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func readAuditStatus() (auditStatus, error) {
	out, err := exec.Command("auditctl", "-s").CombinedOutput()
	if err != nil {
		return auditStatus{}, fmt.Errorf("auditctl -s: %v: %s", err, bytes.TrimSpace(out))
	}
	return parseAuditStatus(out)
}

func parseAuditStatus(b []byte) (auditStatus, error) {
	st := auditStatus{BacklogWaitActual: -1}
	fields := map[string]*int64{"enabled": &st.Enabled, "pid": &st.PID, "backlog_limit": &st.BacklogLimit, "lost": &st.Lost, "backlog": &st.Backlog}
	found := 0
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		dst, ok := fields[f[0]]
		if f[0] == "backlog_wait_time_actual" {
			dst, ok = &st.BacklogWaitActual, true
			found-- // optional
		}
		if !ok {
			continue
		}
		v, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return st, fmt.Errorf("auditctl -s: %q: %w", line, err)
		}
		*dst = v
		found++
	}
	if found != len(fields) {
		return st, fmt.Errorf("auditctl -s: want enabled, pid, backlog_limit, lost and backlog in %q", b)
	}
	return st, nil
}

// auditRules lists the loaded rules, as auditctl -l prints them.
func auditRules() ([]string, error) {
	out, err := exec.Command("auditctl", "-l").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("auditctl -l: %v: %s", err, bytes.TrimSpace(out))
	}
	var rules []string
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && line != "No rules" {
			rules = append(rules, line)
		}
	}
	return rules, nil
}

// auditRecord is the part of an auditd event (a SYSCALL record and the
// PATH records that go with it) the workloads match.
type auditRecord struct {
	Syscall   int
	Success   bool
	PID, PPID int
	Exe       string
	Paths     []string // the name= of every PATH record of the event
}

// countAudit counts the events of auditd's log that match. The records of
// one event share the id in msg=audit(TIME:SERIAL).
func countAudit(r io.Reader, match func(auditRecord) bool) (int, error) {
	events := map[string]*auditRecord{}
	var order []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		id := auditEventID(line)
		if rec, ok := parseAuditSyscall(line); ok {
			if prev, ok := events[id]; ok { // its PATH records came first
				rec.Paths = prev.Paths
			} else {
				order = append(order, id)
			}
			events[id] = &rec
			continue
		}
		if name, ok := auditPathName(line); ok {
			rec, ok := events[id]
			if !ok {
				rec = &auditRecord{Syscall: -1}
				events[id] = rec
				order = append(order, id)
			}
			rec.Paths = append(rec.Paths, name)
		}
	}
	n := 0
	for _, id := range order {
		if rec := events[id]; rec.Syscall >= 0 && match(*rec) {
			n++
		}
	}
	return n, sc.Err()
}

// auditEventID is the TIME:SERIAL of a log line's msg=audit(...).
func auditEventID(line string) string {
	_, rest, ok := strings.Cut(line, "msg=audit(")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, ")")
	return id
}

// auditFields splits a log line into its key=value fields (the raw part:
// the enriched format appends interpreted fields after 0x1d).
func auditFields(line string) map[string]string {
	raw, _, _ := strings.Cut(line, "\x1d")
	f := map[string]string{}
	for _, kv := range strings.Fields(raw) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			f[k] = v
		}
	}
	return f
}

// parseAuditSyscall reads a type=SYSCALL line of the log; ok is false for
// other lines.
func parseAuditSyscall(line string) (rec auditRecord, ok bool) {
	if !strings.HasPrefix(line, "type=SYSCALL ") {
		return rec, false
	}
	f := auditFields(line)
	return auditRecord{
		Syscall: atoiOr(f["syscall"], -1),
		Success: f["success"] == "yes",
		PID:     atoiOr(f["pid"], -1),
		PPID:    atoiOr(f["ppid"], -1),
		Exe:     auditString(f["exe"]),
	}, true
}

// auditPathName is the name= of a type=PATH line.
func auditPathName(line string) (string, bool) {
	if !strings.HasPrefix(line, "type=PATH ") {
		return "", false
	}
	name, ok := auditFields(line)["name"]
	if !ok || name == "(null)" {
		return "", false
	}
	return auditString(name), true
}

// auditString decodes a string field: quoted, or hex when it holds
// characters that need it.
func auditString(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	if b, err := hex.DecodeString(v); err == nil {
		return string(b)
	}
	return v
}

func atoiOr(s string, or int) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return or
	}
	return n
}
