package main

import (
	"fmt"
	"slices"
	"strings"
	"syscall"
	"time"
)

// A workload is one fixed loop that every mode runs: the same code with
// nothing of ours running, with the sensor and under auditd. It runs in a
// worker process of its own, started afresh for every round (worker.go).
// Besides the loop it knows what the sensor must export and what auditd
// must log for one iteration, and how to recognise those records, by the
// worker's pid, among everything else the shared machine does.
type workload struct {
	name  string // the -workload value
	title string // the report's heading, e.g. "open+close"
	op    string // one iteration, as in "µs per open+close"
	// loop describes one iteration for the report.
	loop     string
	defaultN int
	// target is the limit on the sensor/baseline ratio;
	// targetRSSKiB the limit on the sensor's peak RSS (0: none).
	target       float64
	targetRSSKiB int64

	// sensorEnv configures the sensor modes: each KEY=VALUE is set unless
	// the harness's own environment sets KEY (then that value counts, and
	// the report says so).
	sensorEnv []string
	// events are the event names the sensor must export, perIter of them
	// per iteration; matchRecord tells the records of the worker with
	// process id pid apart.
	events      []string
	perIter     int
	matchRecord func(event string, attrs []keyValue, pid int) bool
	// processEvents: the events are process events, which the netlink
	// provider reports too (it reports no file or socket events), so the
	// sensor-netlink mode runs for this workload.
	processEvents bool

	// auditSyscalls are what auditd watches (-S, arch=b64), the syscalls
	// the sensor hooks for this workload; auditd must log auditPerIter
	// SYSCALL records per iteration, recognised by matchAudit.
	auditSyscalls []string
	auditPerIter  int
	matchAudit    func(r auditRecord, pid int) bool

	// start prepares the loop, in the worker process: it returns one
	// iteration and what releases the loop's resources.
	start func() (iterate func() error, done func() error, err error)
}

// workloadNames lists the workloads in the order `-workload all` runs them.
var workloadNames = []string{"forkexec", "openclose", "rename", "connect"}

// workloadEnv is what a workload is built from.
type workloadEnv struct {
	dir string // a directory of its own, removed after the run
	exe string // forkexec: the program to exec
}

func newWorkload(name string, env workloadEnv) (*workload, error) {
	switch name {
	case "forkexec":
		return newForkExec(env)
	case "openclose":
		return newOpenClose(env)
	case "rename":
		return newRename(env)
	case "connect":
		return newConnect(env)
	}
	return nil, fmt.Errorf("unknown workload %q (%s)", name, strings.Join(workloadNames, ", "))
}

// expected is the number of records iters iterations must yield.
func (w *workload) expected(iters int) int { return iters * w.perIter }

func (w *workload) counts(event string) bool { return slices.Contains(w.events, event) }

// runLoop runs iterate count times and returns the wall-clock time and the
// CPU time (user+system) it took: this process's and that of the children
// it reaped. The CPU time leaves out waiting for a CPU, so it shows what
// the sensor adds inside the workload's own execution.
func runLoop(iterate func() error, count int) (elapsed, cpu time.Duration, err error) {
	cpuStart := rusageCPU()
	start := time.Now()
	for i := 0; i < count; i++ {
		if err := iterate(); err != nil {
			return 0, 0, fmt.Errorf("iteration %d: %w", i+1, err)
		}
	}
	elapsed = time.Since(start)
	return elapsed, rusageCPU() - cpuStart, nil
}

// rusageCPU is the user+system time of this process and its reaped
// children (in the worker: the workload's own).
func rusageCPU() time.Duration {
	var sum time.Duration
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if syscall.Getrusage(who, &ru) == nil {
			sum += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	return sum
}
