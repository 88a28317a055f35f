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
// workerVar set. A process of its own keeps its CPU apart from the
// harness's (which runs the receiver) and gives the sensor one initiator
// to attribute the opens to.
//
// It opens and closes one file, made for the run, at a given rate for a
// given time. With file.opens=all each successful open is one file.open
// event, and nothing else opens that path, so the opens it counts are
// exactly the events the receiver should get with that file.path.
//
// The protocol, one JSON line each on the worker's stdout: after set-up,
// {"ready":true}; then, once the harness writes a line to its stdin, the
// result. Either may be {"error":...} instead.
const workerVar = "THROUGHPUT_BENCH_WORKER"

// workerSpec is what the worker does; its JSON is workerVar's value.
type workerSpec struct {
	Path string `json:"path"`
	// Rate is the target in opens per second; 0: as fast as it can.
	Rate     float64       `json:"rate"`
	Duration time.Duration `json:"duration"`
}

type workerMessage struct {
	Ready     bool   `json:"ready,omitempty"`
	Opens     int64  `json:"opens,omitempty"`
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
	if _, err := os.Stat(s.Path); err != nil {
		return fail(err)
	}
	if err := enc.Encode(workerMessage{Ready: true}); err != nil {
		return 1
	}
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return fail(fmt.Errorf("wait for the start: %w", err))
	}
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	opens, elapsed, err := openLoop(s.Path, s.Rate, s.Duration)
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	if err != nil {
		return fail(err)
	}
	enc.Encode(workerMessage{
		Opens:     opens,
		ElapsedNS: elapsed.Nanoseconds(),
		CPUNS:     (rusageCPU(ru1) - rusageCPU(ru0)).Nanoseconds(),
	})
	return 0
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
type worker struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *json.Decoder
}

// startWorker starts the worker and waits until it is ready.
func startWorker(spec workerSpec, dir string) (*worker, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	b, _ := json.Marshal(spec)
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), workerVar+"="+string(b))
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	w := &worker{cmd: cmd, in: in, out: json.NewDecoder(outPipe)}
	var m workerMessage
	if err := w.out.Decode(&m); err != nil || !m.Ready {
		w.kill()
		if err == nil {
			err = errors.New(m.Error)
		}
		return nil, fmt.Errorf("worker set-up: %w", err)
	}
	return w, nil
}

// begin tells the worker to start its loop.
func (w *worker) begin() error {
	_, err := io.WriteString(w.in, "go\n")
	return err
}

// result waits for the loop's result and for the worker to exit.
func (w *worker) result() (workerMessage, error) {
	var m workerMessage
	err := w.out.Decode(&m)
	werr := w.cmd.Wait()
	switch {
	case err != nil:
		return m, fmt.Errorf("worker result: %w (exit: %v)", err, werr)
	case m.Error != "":
		return m, fmt.Errorf("worker: %s", m.Error)
	case werr != nil:
		return m, fmt.Errorf("worker: %w", werr)
	}
	return m, nil
}

func (w *worker) kill() {
	w.cmd.Process.Kill()
	w.cmd.Wait()
}
