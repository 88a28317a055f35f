package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of utime and stime in /proc/PID/stat: USER_HZ,
// which is 100 on every Linux architecture the sensor supports.
const clockTick = 10 * time.Millisecond

// cpuTimes is a process's CPU time so far, all threads together.
type cpuTimes struct {
	User, System time.Duration
}

func (c cpuTimes) Total() time.Duration { return c.User + c.System }

func (c cpuTimes) Sub(o cpuTimes) cpuTimes {
	return cpuTimes{User: c.User - o.User, System: c.System - o.System}
}

// readCPU reads utime and stime of pid from /proc/PID/stat.
func readCPU(pid int) (cpuTimes, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return cpuTimes{}, err
	}
	return parseStat(b)
}

// parseStat takes utime and stime (fields 14 and 15) from the contents of
// /proc/PID/stat. The command name (field 2) is in parentheses and may hold
// spaces and parentheses itself, so fields are counted from the last ')'.
func parseStat(b []byte) (cpuTimes, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return cpuTimes{}, errors.New("stat: no ')' after the command name")
	}
	// Fields from 3 (state) on.
	f := strings.Fields(string(b[i+1:]))
	const utime, stime = 14 - 3, 15 - 3
	if len(f) <= stime {
		return cpuTimes{}, fmt.Errorf("stat: %d fields after the command name, want more than %d", len(f), stime)
	}
	u, err := strconv.ParseUint(f[utime], 10, 64)
	if err != nil {
		return cpuTimes{}, fmt.Errorf("stat: utime: %w", err)
	}
	s, err := strconv.ParseUint(f[stime], 10, 64)
	if err != nil {
		return cpuTimes{}, fmt.Errorf("stat: stime: %w", err)
	}
	return cpuTimes{User: time.Duration(u) * clockTick, System: time.Duration(s) * clockTick}, nil
}

// readStatusKB reads a "Key:   N kB" line of /proc/PID/status (VmHWM,
// VmRSS) in bytes.
func readStatusKB(pid int, key string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseStatusKB(b, key)
}

func parseStatusKB(b []byte, key string) (int64, error) {
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, ":")
		if !ok || k != key {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("status: %s: %q is not \"N kB\"", key, strings.TrimSpace(v))
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("status: %s: %w", key, err)
		}
		return n * 1024, nil
	}
	return 0, fmt.Errorf("status: no %s line", key)
}

// otherSensors counts the processes named otel-sensor other than except:
// someone else's sensor (another engineer's test run) costs CPU and sees
// the workload's events too.
func otherSensors(except int) int {
	dirs, _ := filepath.Glob("/proc/[0-9]*/comm")
	n := 0
	for _, p := range dirs {
		b, err := os.ReadFile(p)
		if err != nil || strings.TrimSpace(string(b)) != "otel-sensor" {
			continue
		}
		if pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p))); pid != except {
			n++
		}
	}
	return n
}

// machineCPU is the first line of /proc/stat: CPU time of all CPUs
// together, busy (user, nice, system, irq, softirq, steal) and idle (idle,
// iowait).
type machineCPU struct {
	Busy, Idle, Steal time.Duration
}

func readMachineCPU() (machineCPU, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineCPU{}, err
	}
	return parseProcStat(b)
}

func parseProcStat(b []byte) (machineCPU, error) {
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return machineCPU{}, fmt.Errorf("/proc/stat: first line %q is not the cpu total", line)
	}
	var v [8]time.Duration // user nice system idle iowait irq softirq steal
	for i := range v {
		n, err := strconv.ParseUint(f[i+1], 10, 64)
		if err != nil {
			return machineCPU{}, fmt.Errorf("/proc/stat: %w", err)
		}
		v[i] = time.Duration(n) * clockTick
	}
	return machineCPU{
		Busy:  v[0] + v[1] + v[2] + v[5] + v[6] + v[7],
		Idle:  v[3] + v[4],
		Steal: v[7],
	}, nil
}

func (m machineCPU) Sub(o machineCPU) machineCPU {
	return machineCPU{Busy: m.Busy - o.Busy, Idle: m.Idle - o.Idle, Steal: m.Steal - o.Steal}
}
