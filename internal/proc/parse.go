package proc

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	"github.com/otel-sensor/otel-sensor/internal/event"
)

// pfKthread is the kernel's PF_KTHREAD task flag (include/linux/sched.h).
const pfKthread = 0x00200000

// stat is what the cache takes from /proc/<pid>/stat.
type stat struct {
	PID, ParentPID uint32
	Comm           string
	State          byte
	Flags          uint32
	StartTicks     uint64 // clock ticks since boot (field 22, starttime)
}

// Kthread reports whether the task is a kernel thread.
func (s stat) Kthread() bool { return s.Flags&pfKthread != 0 }

// Field positions in /proc/<pid>/stat after the closing parenthesis of comm,
// counted from 0 (proc_pid_stat(5) numbers them from 1, with state as 3).
const (
	statState      = 0
	statParentPID  = 1
	statFlags      = 6
	statStartTicks = 19
)

// parseStat parses one /proc/<pid>/stat line. comm is enclosed in
// parentheses and may itself contain spaces and parentheses, so it runs from
// the first '(' to the last ')'.
func parseStat(b []byte) (stat, error) {
	b = bytes.TrimSuffix(b, []byte("\n"))
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return stat{}, errors.New("stat: comm not in parentheses")
	}
	if open == 0 || b[open-1] != ' ' {
		return stat{}, errors.New("stat: malformed pid")
	}
	pid, err := parseUint32(b[:open-1])
	if err != nil {
		return stat{}, fmt.Errorf("stat: pid: %w", err)
	}
	s := stat{PID: pid, Comm: string(b[open+1 : end])}

	rest := b[end+1:]
	if len(rest) == 0 || rest[0] != ' ' {
		return stat{}, errors.New("stat: nothing after comm")
	}
	rest = rest[1:]
	for i := 0; i <= statStartTicks; i++ {
		if len(rest) == 0 {
			return stat{}, fmt.Errorf("stat: %d fields after comm, want more than %d", i, statStartTicks)
		}
		field := rest
		if sp := bytes.IndexByte(rest, ' '); sp >= 0 {
			field, rest = rest[:sp], rest[sp+1:]
		} else {
			rest = nil
		}
		switch i {
		case statState:
			if len(field) != 1 {
				return stat{}, fmt.Errorf("stat: state %q", field)
			}
			s.State = field[0]
		case statParentPID:
			if s.ParentPID, err = parseUint32(field); err != nil {
				return stat{}, fmt.Errorf("stat: ppid: %w", err)
			}
		case statFlags:
			if s.Flags, err = parseUint32(field); err != nil {
				return stat{}, fmt.Errorf("stat: flags: %w", err)
			}
		case statStartTicks:
			if s.StartTicks, err = strconv.ParseUint(string(field), 10, 64); err != nil {
				return stat{}, fmt.Errorf("stat: starttime: %w", err)
			}
		}
	}
	return s, nil
}

// status is what the cache takes from /proc/<pid>/status.
type status struct {
	Tgid        uint32
	Credentials event.Credentials
}

// parseStatus parses /proc/<pid>/status for the Tgid, Uid and Gid lines. Uid
// and Gid each carry four ids: real, effective, saved set, filesystem.
func parseStatus(b []byte) (status, error) {
	var (
		s                          status
		haveTgid, haveUID, haveGID bool
	)
	for len(b) > 0 {
		line := b
		if nl := bytes.IndexByte(b, '\n'); nl >= 0 {
			line, b = b[:nl], b[nl+1:]
		} else {
			b = nil
		}
		key, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		var err error
		switch string(key) {
		case "Tgid":
			s.Tgid, err = parseUint32(bytes.TrimSpace(value))
			haveTgid = true
		case "Uid":
			s.Credentials.UID, s.Credentials.EUID, s.Credentials.SUID, s.Credentials.FSUID, err = parseIDs(value)
			haveUID = true
		case "Gid":
			s.Credentials.GID, s.Credentials.EGID, s.Credentials.SGID, s.Credentials.FSGID, err = parseIDs(value)
			haveGID = true
		}
		if err != nil {
			return status{}, fmt.Errorf("status: %s: %w", key, err)
		}
	}
	if !haveTgid || !haveUID || !haveGID {
		return status{}, errors.New("status: missing Tgid, Uid or Gid line")
	}
	return s, nil
}

// parseIDs parses the four whitespace-separated ids of a Uid: or Gid: line.
func parseIDs(b []byte) (real, effective, saved, fs uint32, err error) {
	var ids [4]uint32
	n := 0
	for f := range bytes.FieldsSeq(b) {
		if n == len(ids) {
			return 0, 0, 0, 0, errors.New("more than 4 ids")
		}
		if ids[n], err = parseUint32(f); err != nil {
			return 0, 0, 0, 0, err
		}
		n++
	}
	if n != len(ids) {
		return 0, 0, 0, 0, fmt.Errorf("%d ids, want 4", n)
	}
	return ids[0], ids[1], ids[2], ids[3], nil
}

// deletedSuffix is what the kernel appends to the cgroup v2 path of a
// process whose cgroup has been removed.
const deletedSuffix = " (deleted)"

// parseCgroup returns the cgroup v2 path from /proc/<pid>/cgroup: the path of
// the "0::" line. A system with only cgroup v1 hierarchies has no such line
// and gives "". The kernel's " (deleted)" mark of a removed cgroup is dropped.
func parseCgroup(b []byte) (string, error) {
	for len(b) > 0 {
		line := b
		if nl := bytes.IndexByte(b, '\n'); nl >= 0 {
			line, b = b[:nl], b[nl+1:]
		} else {
			b = nil
		}
		if len(line) == 0 {
			continue
		}
		// hierarchy-ID:controller-list:path; the path may contain ':'.
		id, rest, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return "", fmt.Errorf("cgroup: malformed line %q", line)
		}
		controllers, path, ok := bytes.Cut(rest, []byte(":"))
		if !ok {
			return "", fmt.Errorf("cgroup: malformed line %q", line)
		}
		if _, err := parseUint32(id); err != nil {
			return "", fmt.Errorf("cgroup: hierarchy id: %w", err)
		}
		if string(id) != "0" || len(controllers) != 0 {
			continue
		}
		path = bytes.TrimSuffix(path, []byte(deletedSuffix))
		if len(path) == 0 || path[0] != '/' {
			return "", fmt.Errorf("cgroup: path %q is not absolute", path)
		}
		return string(path), nil
	}
	return "", nil
}

// parseLoginUID parses /proc/<pid>/loginuid.
func parseLoginUID(b []byte) (uint32, error) {
	uid, err := parseUint32(bytes.TrimSpace(b))
	if err != nil {
		return 0, fmt.Errorf("loginuid: %w", err)
	}
	return uid, nil
}

// parseUint32 parses a decimal uint32 without allocating.
func parseUint32(b []byte) (uint32, error) {
	if len(b) == 0 {
		return 0, errors.New("empty number")
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("invalid number %q", b)
		}
		n = n*10 + uint64(c-'0')
		if n > 1<<32-1 {
			return 0, fmt.Errorf("number %q out of range", b)
		}
	}
	return uint32(n), nil
}

// tickNanoseconds is the length of one clock tick (USER_HZ) in nanoseconds.
func tickNanoseconds(clockTicks uint64) (uint64, error) {
	if clockTicks == 0 || clockTicks > 1e9 || 1e9%clockTicks != 0 {
		return 0, fmt.Errorf("clock ticks %d do not divide a second", clockTicks)
	}
	return 1e9 / clockTicks, nil
}

// ticksToBoottime converts a time in clock ticks since boot, as /proc gives
// it, to CLOCK_BOOTTIME nanoseconds, the unit of the kernel's
// task->start_boottime. The result is the start of the tick: /proc truncates.
func ticksToBoottime(ticks, clockTicks uint64) (uint64, error) {
	tick, err := tickNanoseconds(clockTicks)
	if err != nil {
		return 0, err
	}
	if ticks > ^uint64(0)/tick {
		return 0, fmt.Errorf("%d ticks overflow nanoseconds", ticks)
	}
	return ticks * tick, nil
}
