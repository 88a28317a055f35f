package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// sensorProc is a running `otel-sensor run`.
type sensorProc struct {
	cmd  *exec.Cmd
	pid  int
	done chan struct{} // closed when the process has been waited for
	err  error         // Wait's result, once done

	mu   sync.Mutex
	tail []string // the last lines of its stderr
	warn int      // stderr lines at warning level or above
	hwm  int64    // the highest VmHWM read so far
}

// hwmInterval is how often VmHWM is read until the sensor exits.
const hwmInterval = 20 * time.Millisecond

// sensorStartTimeout bounds the time to "sensor running".
const sensorStartTimeout = 30 * time.Second

// startSensor runs bin with env added to the harness's environment (env
// wins) and waits until it logs "sensor running".
func startSensor(bin string, env []string, args ...string) (*sensorProc, error) {
	cmd := exec.Command(bin, append([]string{"run"}, args...)...)
	cmd.Env = append(inheritedEnv(), env...)
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("start sensor: %w", err)
	}
	pw.Close()
	s := &sensorProc{cmd: cmd, pid: cmd.Process.Pid, done: make(chan struct{})}
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	ready := make(chan struct{})
	go func() {
		defer pr.Close()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.tail = append(s.tail, line)
			if len(s.tail) > 20 {
				s.tail = s.tail[1:]
			}
			if isWarning(line) {
				s.warn++
			}
			s.mu.Unlock()
			if !signalled && strings.Contains(line, "sensor running") {
				signalled = true
				close(ready)
			}
		}
	}()
	go s.sampleHWM()
	select {
	case <-ready:
		return s, nil
	case <-s.done:
		return nil, fmt.Errorf("sensor exited before running (%v):\n%s", s.err, s.stderrTail())
	case <-time.After(sensorStartTimeout):
		s.kill()
		return nil, fmt.Errorf("sensor not running after %v:\n%s", sensorStartTimeout, s.stderrTail())
	}
}

// inheritedEnv is the harness's environment without the variables the
// harness sets itself for the sensor (endpoint, protocol, exporters), so
// that a _LOGS_ variant left in the shell cannot redirect the events.
// Everything else, OTEL_SENSOR_* included, passes through.
func inheritedEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "OTEL_EXPORTER_OTLP_") && (strings.HasSuffix(k, "ENDPOINT") || strings.HasSuffix(k, "PROTOCOL")) ||
			k == "OTEL_LOGS_EXPORTER" || k == "OTEL_METRICS_EXPORTER" || k == workerVar {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// isWarning tells a log line at level WARN or ERROR, in slog's text or
// JSON form.
func isWarning(line string) bool {
	for _, l := range []string{"level=WARN", "level=ERROR", `"level":"WARN"`, `"level":"ERROR"`} {
		if strings.Contains(line, l) {
			return true
		}
	}
	return false
}

// sampleHWM reads VmHWM until the process exits. VmHWM only grows, so the
// last read is the peak but for the last interval before the exit.
// (ru_maxrss from wait4 cannot be used: Go starts a child with
// clone(CLONE_VM|CLONE_VFORK), and the kernel carries the parent's RSS
// high-water mark over the exec into the child's ru_maxrss, so it reports
// the harness's peak when that is higher.)
func (s *sensorProc) sampleHWM() {
	t := time.NewTicker(hwmInterval)
	defer t.Stop()
	for {
		if v, err := readStatusKB(s.pid, "VmHWM"); err == nil {
			s.mu.Lock()
			s.hwm = max(s.hwm, v)
			s.mu.Unlock()
		}
		select {
		case <-s.done:
			return
		case <-t.C:
		}
	}
}

// peakRSS is the highest VmHWM read.
func (s *sensorProc) peakRSS() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hwm
}

func (s *sensorProc) stderrTail() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.tail, "\n")
}

func (s *sensorProc) warnings() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.warn
}

// stop sends SIGTERM and waits for the exit, which must be 0. It returns
// how long the exit took.
func (s *sensorProc) stop(timeout time.Duration) (time.Duration, error) {
	t0 := time.Now()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(timeout):
		s.kill()
		return 0, fmt.Errorf("sensor did not exit within %v of SIGTERM:\n%s", timeout, s.stderrTail())
	}
	took := time.Since(t0)
	if s.err != nil {
		var ee *exec.ExitError
		if errors.As(s.err, &ee) {
			return took, fmt.Errorf("sensor exited with %v after SIGTERM, want 0:\n%s", ee, s.stderrTail())
		}
		return took, s.err
	}
	return took, nil
}

func (s *sensorProc) kill() {
	s.cmd.Process.Kill()
	<-s.done
}

// perfRecorder is `perf record -g` attached to the sensor.
type perfRecorder struct {
	cmd *exec.Cmd
}

func startPerf(pid int, out string) (*perfRecorder, error) {
	cmd := exec.Command("perf", "record", "-g", "-F", "1999", "-p", fmt.Sprint(pid), "-o", out)
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("perf record: %w", err)
	}
	return &perfRecorder{cmd: cmd}, nil
}

// stop ends the recording (SIGINT, as perf expects) and waits for perf to
// write its file.
func (p *perfRecorder) stop() {
	p.cmd.Process.Signal(os.Interrupt)
	p.cmd.Wait()
}
