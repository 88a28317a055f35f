package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// workload is the fixed fork+exec loop every mode runs: n times, fork a
// child that execs path with no arguments, and wait for it. It uses
// syscall.ForkExec (clone with CLONE_VFORK|CLONE_VM, then execve, as
// os/exec does underneath) without os/exec's pipes and goroutines, so the
// loop measures the kernel's fork/exec/exit/wait path and little of Go.
type workload struct {
	path string
	n    int
	attr *syscall.ProcAttr
	null *os.File
}

func newWorkload(path string, n int) (*workload, error) {
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	fd := null.Fd()
	return &workload{
		path: path,
		n:    n,
		attr: &syscall.ProcAttr{
			Env:   []string{"PATH=/usr/bin:/bin", "LC_ALL=C"},
			Files: []uintptr{fd, fd, fd},
		},
		null: null,
	}, nil
}

func (w *workload) Close() error { return w.null.Close() }

// run executes the loop count times and returns its wall-clock time and
// the CPU time (user+system) it used: the harness's own and that of the
// children it reaped. The CPU time leaves out waiting for a CPU, so it
// shows what the sensor adds inside the workload's own execution.
func (w *workload) run(count int) (elapsed, cpu time.Duration, err error) {
	argv := []string{w.path}
	cpuStart := rusageCPU()
	start := time.Now()
	for i := 0; i < count; i++ {
		pid, err := syscall.ForkExec(w.path, argv, w.attr)
		if err != nil {
			return 0, 0, fmt.Errorf("fork+exec %s: %w", w.path, err)
		}
		var ws syscall.WaitStatus
		for {
			_, err = syscall.Wait4(pid, &ws, 0, nil)
			if !errors.Is(err, syscall.EINTR) {
				break
			}
		}
		if err != nil {
			return 0, 0, fmt.Errorf("wait for %s (pid %d): %w", w.path, pid, err)
		}
		if !ws.Exited() || ws.ExitStatus() != 0 {
			return 0, 0, fmt.Errorf("%s (pid %d) ended with status %#x", w.path, pid, uint32(ws))
		}
	}
	elapsed = time.Since(start)
	return elapsed, rusageCPU() - cpuStart, nil
}

// rusageCPU is the user+system time of this process and its reaped
// children. The sensor and auditd are reaped only after the round, so
// within a round the children are the workload's alone.
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
