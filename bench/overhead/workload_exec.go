package main

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"syscall"
)

// x86_64 syscall numbers of the calls auditd is asked to watch.
const (
	sysExecve   = 59
	sysExecveat = 322
)

// newForkExec is the fork+exec loop: fork a child that execs env.exe with
// no arguments, and wait for it. It uses syscall.ForkExec (clone with
// CLONE_VFORK|CLONE_VM, then execve, as os/exec does underneath) without
// os/exec's pipes and goroutines, so the loop measures the kernel's
// fork/exec/exit/wait path and little of Go. The sensor runs with its
// default configuration. One process.exec record per iteration, under
// either provider.
func newForkExec(env workloadEnv) (*workload, error) {
	exeName := filepath.Base(env.exe)
	if real, err := filepath.EvalSymlinks(env.exe); err == nil {
		exeName = filepath.Base(real)
	}
	return &workload{
		name:          "forkexec",
		title:         "fork+exec",
		op:            "exec",
		loop:          fmt.Sprintf("fork+exec+wait of %s", env.exe),
		defaultN:      2000,
		target:        1.10,
		targetRSSKiB:  48 << 10,
		events:        []string{"process.exec"},
		perIter:       1,
		processEvents: true,
		matchRecord: func(_ string, attrs []keyValue, pid int) bool {
			ppid, ok := attrInt(attrs, "process.parent_pid")
			if !ok || ppid != int64(pid) {
				return false
			}
			name := attrString(attrs, "process.executable.name")
			if name == "" {
				name = attrString(attrs, "process.executable.path")
			}
			if name == "" {
				// The netlink provider reads the program from /proc after
				// the event; when the child had already exited it leaves
				// the executable out and lists it in sensor.incomplete.
				// The worker's children exec nothing else, so the record
				// is the loop's; the report counts such records.
				return slices.Contains(attrStrings(attrs, attrIncomplete), "process.executable.path")
			}
			return path.Base(name) == exeName
		},
		auditSyscalls: []string{"execve", "execveat"},
		auditPerIter:  1,
		matchAudit: func(r auditRecord, pid int) bool {
			return (r.Syscall == sysExecve || r.Syscall == sysExecveat) && r.Success &&
				r.PPID == pid && filepath.Base(r.Exe) == exeName
		},
		start: func() (func() error, func() error, error) {
			null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
			if err != nil {
				return nil, nil, err
			}
			fd := null.Fd()
			attr := &syscall.ProcAttr{
				Env:   []string{"PATH=/usr/bin:/bin", "LC_ALL=C"},
				Files: []uintptr{fd, fd, fd},
			}
			argv := []string{env.exe}
			return func() error { return forkExecWait(env.exe, argv, attr) }, null.Close, nil
		},
	}, nil
}

func forkExecWait(exe string, argv []string, attr *syscall.ProcAttr) error {
	pid, err := syscall.ForkExec(exe, argv, attr)
	if err != nil {
		return fmt.Errorf("fork+exec %s: %w", exe, err)
	}
	var ws syscall.WaitStatus
	for {
		_, err = syscall.Wait4(pid, &ws, 0, nil)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("wait for %s (pid %d): %w", exe, pid, err)
	}
	if !ws.Exited() || ws.ExitStatus() != 0 {
		return fmt.Errorf("%s (pid %d) ended with status %#x", exe, pid, uint32(ws))
	}
	return nil
}
