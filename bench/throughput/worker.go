package main

import (
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/otel-sensor/otel-sensor/bench/internal/workerproc"
)

// The workload runs in a worker process (package workerproc): this
// program again, started with workerVar set. A process of its own keeps its
// CPU apart from the harness's (which runs the receiver) and gives the
// sensor one initiator to attribute the opens to.
//
// It opens and closes one file, made for the run, at a given rate for a
// given time. With file.opens=all each successful open is one file.open
// event, and nothing else opens that path, so the opens it counts are
// exactly the events the receiver should get with that file.path.
const workerVar = "THROUGHPUT_BENCH_WORKER"

// workerSpec is what the worker does; its JSON is workerVar's value.
type workerSpec struct {
	Path string `json:"path"`
	// Rate is the target in opens per second; 0: as fast as it can.
	Rate     float64       `json:"rate"`
	Duration time.Duration `json:"duration"`
}

// workerMessage is the worker's result.
type workerMessage struct {
	Opens     int64 `json:"opens"`
	ElapsedNS int64 `json:"elapsed_ns"`
	CPUNS     int64 `json:"cpu_ns"`
}

// runWorker is the worker's main.
func runWorker(spec string) int {
	var s workerSpec
	return workerproc.Serve(spec, &s, func() (func() (any, error), func(), error) {
		if _, err := os.Stat(s.Path); err != nil {
			return nil, nil, err
		}
		run := func() (any, error) {
			var ru0, ru1 syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
			opens, elapsed, err := openLoop(s.Path, s.Rate, s.Duration)
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
			return workerMessage{
				Opens:     opens,
				ElapsedNS: elapsed.Nanoseconds(),
				CPUNS:     (rusageCPU(ru1) - rusageCPU(ru0)).Nanoseconds(),
			}, err
		}
		return run, nil, nil
	})
}

func rusageCPU(ru syscall.Rusage) time.Duration {
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// maxBurst bounds the opens between two looks at the clock.
const maxBurst = 256

// openLoop opens and closes path for d: at rate opens per second (paced
// against the start, so a late slice catches up), or as fast as it can
// when rate is 0. It returns how many opens succeeded and how long it
// took; the first failure ends it.
func openLoop(path string, rate float64, d time.Duration) (int64, time.Duration, error) {
	var n int64
	start := time.Now()
	end := start.Add(d)
	for {
		now := time.Now()
		if !now.Before(end) {
			return n, now.Sub(start), nil
		}
		target := n + maxBurst
		if rate > 0 {
			owed := int64(rate * now.Sub(start).Seconds())
			if owed <= n {
				// Ahead of the schedule: sleep until the next open is due
				// (the timer's granularity makes this ~1 ms bursts).
				time.Sleep(time.Until(start.Add(time.Duration(float64(n+1) / rate * float64(time.Second)))))
				continue
			}
			target = min(owed, n+maxBurst)
		}
		for ; n < target; n++ {
			fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
			if err != nil {
				return n, time.Since(start), fmt.Errorf("open %s: %w", path, err)
			}
			syscall.Close(fd)
		}
	}
}

// worker is a running worker process, seen from the harness.
type worker struct{ *workerproc.Proc }

// startWorker starts the worker in dir and waits until it is ready.
func startWorker(spec workerSpec, dir string) (worker, error) {
	p, err := workerproc.Start(workerVar, spec, dir)
	return worker{p}, err
}

// begin tells the worker to start its loop.
func (w worker) begin() error { return w.Begin() }

// result waits for the loop's result and for the worker to exit.
func (w worker) result() (workerMessage, error) {
	var m workerMessage
	err := w.Result(&m)
	return m, err
}

func (w worker) kill() { w.Kill() }
