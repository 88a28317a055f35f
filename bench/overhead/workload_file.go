package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// x86_64 syscall numbers of the calls auditd is asked to watch.
const (
	sysOpen      = 2
	sysCreat     = 85
	sysOpenat    = 257
	sysOpenat2   = 437
	sysRename    = 82
	sysRenameat  = 264
	sysRenameat2 = 316
)

// fileEventsEnv turns every file event on for the sensor modes: every
// open reported (not only writes), and failed attempts too.
var fileEventsEnv = []string{"OTEL_SENSOR_FILE__OPENS=all", "OTEL_SENSOR_FILE__FAILED=true"}

// fileWorkload fills in what the file workloads share: the sensor
// configuration, records recognised by the worker's pid and a path under
// the workload's directory (the worker's Go runtime opens a few files of
// its own at start), auditd's events likewise by the syscall number, the
// pid and a PATH record under the directory; one of each per iteration.
func fileWorkload(env workloadEnv, event string, syscalls map[int]string, w *workload) *workload {
	prefix := env.dir + "/"
	w.sensorEnv = fileEventsEnv
	w.events = []string{event}
	w.perIter = 1
	w.matchRecord = func(_ string, attrs []keyValue, pid int) bool {
		p, ok := attrInt(attrs, "process.pid")
		return ok && p == int64(pid) && strings.HasPrefix(attrString(attrs, "file.path"), prefix)
	}
	for _, name := range syscalls {
		w.auditSyscalls = append(w.auditSyscalls, name)
	}
	slices.Sort(w.auditSyscalls)
	w.auditPerIter = 1
	w.matchAudit = func(r auditRecord, pid int) bool {
		_, ok := syscalls[r.Syscall]
		return ok && r.Success && r.PID == pid &&
			slices.ContainsFunc(r.Paths, func(p string) bool { return strings.HasPrefix(p, prefix) })
	}
	return w
}

// newOpenClose is the open+close loop: openat(AT_FDCWD, dir/f,
// O_CREAT|O_WRONLY|O_TRUNC, 0644), then close, of the same file (created
// by the first iteration, truncated, empty, by every one). One file.open
// record per iteration.
func newOpenClose(env workloadEnv) (*workload, error) {
	file := filepath.Join(env.dir, "f")
	return fileWorkload(env, "file.open",
		map[int]string{sysOpen: "open", sysOpenat: "openat", sysOpenat2: "openat2", sysCreat: "creat"},
		&workload{
			name:     "openclose",
			title:    "open+close",
			op:       "open+close",
			loop:     "openat(AT_FDCWD, DIR/f, O_CREAT|O_WRONLY|O_TRUNC, 0644) + close of one empty file",
			defaultN: 30000,
			target:   1.25,
			start: func() (func() error, func() error, error) {
				return func() error { return openClose(file) }, nil, nil
			},
		}), nil
}

func openClose(file string) error {
	fd, err := unix.Open(file, unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("open %s: %w", file, err)
	}
	if err := unix.Close(fd); err != nil {
		return fmt.Errorf("close %s: %w", file, err)
	}
	return nil
}

// newRename is the rename loop: renameat(AT_FDCWD, a, AT_FDCWD, b), then
// the next iteration b back to a, of one empty file. One file.rename
// record per iteration.
func newRename(env workloadEnv) (*workload, error) {
	names := [2]string{filepath.Join(env.dir, "a"), filepath.Join(env.dir, "b")}
	return fileWorkload(env, "file.rename",
		map[int]string{sysRename: "rename", sysRenameat: "renameat", sysRenameat2: "renameat2"},
		&workload{
			name:     "rename",
			title:    "rename",
			op:       "rename",
			loop:     "renameat(AT_FDCWD, DIR/a, AT_FDCWD, DIR/b) of one empty file, then b back to a",
			defaultN: 20000,
			target:   1.25,
			start: func() (func() error, func() error, error) {
				// The previous round may have left the file as b.
				if err := os.Remove(names[1]); err != nil && !errors.Is(err, os.ErrNotExist) {
					return nil, nil, err
				}
				if err := os.WriteFile(names[0], nil, 0o644); err != nil {
					return nil, nil, err
				}
				i := 0
				return func() error {
					from, to := names[i%2], names[(i+1)%2]
					i++
					if err := unix.Rename(from, to); err != nil {
						return fmt.Errorf("rename %s to %s: %w", from, to, err)
					}
					return nil
				}, nil, nil
			},
		}), nil
}
