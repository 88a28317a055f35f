package main

import (
	"fmt"
	"time"

	"github.com/otel-sensor/otel-sensor/bench/internal/workerproc"
)

// The workload runs in a worker process (package workerproc): this program
// again, started with workerVar set, afresh for every round of every mode,
// after the mode is set up. A task's audit context is decided when it is
// created: one made while the "-a never,task" rule is loaded (auditdMode
// leaves it between its rounds) is never audited, so a loop in the
// long-lived harness would escape auditd's rules. A new process per round
// also gives every mode the same start: the sensor sees the worker's exec
// and its first file, like any new program's. It is ready once the
// workload is set up and warmed up.
const workerVar = "OVERHEAD_BENCH_WORKER"

// workerSpec is what the worker runs; its JSON is workerVar's value.
type workerSpec struct {
	Workload string `json:"workload"`
	N        int    `json:"n"`
	Warmup   int    `json:"warmup"`
	Dir      string `json:"dir"`
	Exe      string `json:"exe"`
}

// workerResult is the timed loop's wall-clock and CPU time.
type workerResult struct {
	ElapsedNS int64 `json:"elapsed_ns"`
	CPUNS     int64 `json:"cpu_ns"`
}

// runWorker is the worker's main.
func runWorker(spec string) int {
	var s workerSpec
	return workerproc.Serve(spec, &s, func() (func() (any, error), func(), error) {
		w, err := newWorkload(s.Workload, workloadEnv{dir: s.Dir, exe: s.Exe})
		if err != nil {
			return nil, nil, err
		}
		iterate, done, err := w.start()
		if err != nil {
			return nil, nil, fmt.Errorf("set up: %w", err)
		}
		cleanup := func() {
			if done != nil {
				done()
			}
		}
		if _, _, err := runLoop(iterate, s.Warmup); err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("warm-up: %w", err)
		}
		run := func() (any, error) {
			elapsed, cpu, err := runLoop(iterate, s.N)
			return workerResult{ElapsedNS: elapsed.Nanoseconds(), CPUNS: cpu.Nanoseconds()}, err
		}
		return run, cleanup, nil
	})
}

// worker is a worker process on the harness's side.
type worker struct{ *workerproc.Proc }

// startWorker starts a worker and waits until it is set up and warmed up.
func startWorker(spec workerSpec) (worker, error) {
	p, err := workerproc.Start(workerVar, spec, "")
	return worker{p}, err
}

func (wk worker) pid() int { return wk.Pid() }

// run starts the timed loop and returns its wall-clock and CPU time.
func (wk worker) run() (elapsed, cpu time.Duration, err error) {
	if err := wk.Begin(); err != nil {
		return 0, 0, err
	}
	var r workerResult
	err = wk.Result(&r)
	return time.Duration(r.ElapsedNS), time.Duration(r.CPUNS), err
}

func (wk worker) kill() { wk.Kill() }
