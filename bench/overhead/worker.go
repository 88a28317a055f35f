package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// The workload runs in a worker process: this program again, started with
// workerVar set, afresh for every round of every mode, after the mode is
// set up. A task's audit context is decided when it is created: one made
// while the "-a never,task" rule is loaded (auditdMode leaves it between
// its rounds) is never audited, so a loop in the long-lived harness would
// escape auditd's rules. A new process per round also gives every mode the
// same start: the sensor sees the worker's exec and its first file, like
// any new program's.
//
// The protocol, one JSON line each on the worker's stdout: after set-up
// and the warm-up, {"ready":true}; then, once the harness writes a line to
// its stdin, the round's times. Either may be {"error":...} instead.
const workerVar = "OVERHEAD_BENCH_WORKER"

// workerSpec is what the worker runs; its JSON is workerVar's value.
type workerSpec struct {
	Workload string `json:"workload"`
	N        int    `json:"n"`
	Warmup   int    `json:"warmup"`
	Dir      string `json:"dir"`
	Exe      string `json:"exe"`
}

type workerMessage struct {
	Ready     bool   `json:"ready,omitempty"`
	ElapsedNS int64  `json:"elapsed_ns,omitempty"`
	CPUNS     int64  `json:"cpu_ns,omitempty"`
	Error     string `json:"error,omitempty"`
}

// runWorker is the worker's main.
func runWorker(spec string) int {
	enc := json.NewEncoder(os.Stdout)
	fail := func(err error) int {
		enc.Encode(workerMessage{Error: err.Error()})
		return 1
	}
	var s workerSpec
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		return fail(fmt.Errorf("%s: %w", workerVar, err))
	}
	w, err := newWorkload(s.Workload, workloadEnv{dir: s.Dir, exe: s.Exe})
	if err != nil {
		return fail(err)
	}
	iterate, done, err := w.start()
	if err != nil {
		return fail(fmt.Errorf("set up: %w", err))
	}
	if done != nil {
		defer done()
	}
	if _, _, err := runLoop(iterate, s.Warmup); err != nil {
		return fail(fmt.Errorf("warm-up: %w", err))
	}
	if err := enc.Encode(workerMessage{Ready: true}); err != nil {
		return 1
	}
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return fail(fmt.Errorf("wait for the start: %w", err))
	}
	elapsed, cpu, err := runLoop(iterate, s.N)
	if err != nil {
		return fail(err)
	}
	enc.Encode(workerMessage{ElapsedNS: elapsed.Nanoseconds(), CPUNS: cpu.Nanoseconds()})
	return 0
}

// worker is a worker process on the harness's side.
type worker struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *json.Decoder
	done bool
}

// startWorker starts a worker and waits until it is set up and warmed up.
func startWorker(spec workerSpec) (*worker, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), workerVar+"="+string(b))
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	wk := &worker{cmd: cmd, in: in, out: json.NewDecoder(out)}
	if _, err := wk.read(); err != nil {
		return nil, errors.Join(err, wk.wait())
	}
	return wk, nil
}

func (wk *worker) pid() int { return wk.cmd.Process.Pid }

// run starts the timed loop and returns its wall-clock and CPU time.
func (wk *worker) run() (elapsed, cpu time.Duration, err error) {
	if _, err := io.WriteString(wk.in, "go\n"); err != nil {
		return 0, 0, errors.Join(fmt.Errorf("start the loop: %w", err), wk.wait())
	}
	m, err := wk.read()
	if err != nil {
		return 0, 0, errors.Join(err, wk.wait())
	}
	return time.Duration(m.ElapsedNS), time.Duration(m.CPUNS), wk.wait()
}

func (wk *worker) read() (workerMessage, error) {
	var m workerMessage
	if err := wk.out.Decode(&m); err != nil {
		return m, fmt.Errorf("worker (pid %d): %w", wk.pid(), err)
	}
	if m.Error != "" {
		return m, fmt.Errorf("worker (pid %d): %s", wk.pid(), m.Error)
	}
	return m, nil
}

// wait reaps the worker; kill ends it first.
func (wk *worker) wait() error {
	if wk.done {
		return nil
	}
	wk.done = true
	wk.in.Close()
	if err := wk.cmd.Wait(); err != nil {
		return fmt.Errorf("worker (pid %d): %w", wk.pid(), err)
	}
	return nil
}

func (wk *worker) kill() {
	if !wk.done {
		wk.cmd.Process.Kill()
		wk.wait()
	}
}
