package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/otel-sensor/otel-sensor/internal/kerneltest"
	"github.com/otel-sensor/otel-sensor/internal/stats"
)

// renamerEnv makes the test binary run the rename workload instead of the
// tests (TestMain): a program of its own, whose path is the initiator.
const renamerEnv = "SENSOR_TEST_RENAMER"

// renames is the workload's size: rename(2) calls, a→b then b→a.
const renames = 10000

func TestMain(m *testing.M) {
	if os.Getenv(renamerEnv) != "" {
		os.Exit(renameBackAndForth(os.Args[1], os.Args[2]))
	}
	os.Exit(m.Run())
}

// renameBackAndForth renames a to b and back, renames times in all, with
// the rename syscall itself (x/sys/unix would call renameat).
func renameBackAndForth(a, b string) int {
	pa, _ := unix.BytePtrFromString(a)
	pb, _ := unix.BytePtrFromString(b)
	from, to := uintptr(unsafe.Pointer(pa)), uintptr(unsafe.Pointer(pb))
	for range renames {
		if _, _, errno := unix.Syscall(unix.SYS_RENAME, from, to, 0); errno != 0 {
			fmt.Fprintln(os.Stderr, "rename:", errno)
			return 1
		}
		from, to = to, from
	}
	return 0
}

// diagnostic stats over a known workload — one program renaming one file
// back and forth 10,000 times, inside the window — names that program,
// both names of the file and the rename syscall, with the counts the
// workload made. A rename event's file.path is the new name, so each name
// counts 5,000. The initiator counts every event of the program (exec,
// renames, exit), exactly as many as the daemon exported for it.
func TestDiagnosticStatsRenameWorkload(t *testing.T) {
	kerneltest.Require(t)
	bin := buildSensor(t)
	dir := t.TempDir()
	renamer := filepath.Join(dir, "renamer")
	copyFile(t, mustExecutable(t), renamer, 0o755)
	a, b := filepath.Join(dir, "hot-a"), filepath.Join(dir, "hot-b")
	if err := os.WriteFile(a, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	events, logFile, sock := filepath.Join(dir, "events.jsonl"), filepath.Join(dir, "sensor.log"), filepath.Join(dir, "run", "health.sock")
	cfgFile := filepath.Join(dir, "config.yaml")
	// Room for the whole burst in the ring buffer and the export queue:
	// the counts must not depend on drops (checked below).
	os.WriteFile(cfgFile, []byte(fmt.Sprintf("output: %s\nhealth:\n  socket: %s\nlog:\n  output: %s\nebpf:\n  ring_buffer_bytes: 67108864\nexport:\n  queue_size: 65536\n",
		events, sock, logFile)), 0o600)
	sensor := startSensorLogFile(t, bin, logFile, nil, "--config", cfgFile)

	var statsOut bytes.Buffer
	statsCmd := exec.Command(bin, "diagnostic", "stats", "--config", cfgFile, "--duration", "10s", "--top", "10", "--output", "json")
	statsCmd.Stdout = &statsOut
	if err := statsCmd.Start(); err != nil {
		t.Fatal(err)
	}
	statsDone := make(chan error, 1)
	go func() { statsDone <- statsCmd.Wait() }()
	waitFor(t, 10*time.Second, "the daemon's stats window open", func() bool { return fileContains(logFile, "diagnostic stats window open") })

	work := exec.Command(renamer, a, b)
	work.Env = append(os.Environ(), renamerEnv+"=1")
	if out, err := work.CombinedOutput(); err != nil {
		t.Fatalf("workload: %v\n%s", err, out)
	}
	// The stats tap sees an event before the exporter does: once the
	// workload's exit is in the output, the window has counted all of it.
	pid := work.Process.Pid
	waitFor(t, 10*time.Second, "the workload's exit exported", func() bool { return exitExported(t, events, pid) })
	select {
	case err := <-statsDone:
		t.Fatalf("the stats window closed (%v) before the workload's events were all counted", err)
	default:
	}
	select {
	case err := <-statsDone:
		if err != nil {
			t.Fatalf("diagnostic stats: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("diagnostic stats did not end")
	}
	stopSensor(t, sensor, syscall.SIGTERM)

	var r stats.Report
	if err := json.Unmarshal(statsOut.Bytes(), &r); err != nil {
		t.Fatalf("%v: %s", err, statsOut.Bytes())
	}
	out := parseOutput(t, mustRead(t, events))
	if d := droppedTotal(out); d != 0 {
		t.Fatalf("%d events dropped: the counts below cannot match", d)
	}
	produced, renamed := 0, map[string]int{}
	for _, lr := range out.records {
		if exe, _ := attr(lr, "process.executable.path"); exe.Str() != renamer {
			continue
		}
		produced++
		if lr.EventName() == "file.rename" {
			p, _ := attr(lr, "file.path")
			renamed[p.Str()]++
		}
	}
	t.Logf("exported: %d events of %s, renames to %s: %d, to %s: %d", produced, renamer, a, renamed[a], b, renamed[b])
	t.Logf("stats: initiators %v; file paths %v; syscalls %v", r.TopInitiatorPaths, r.TopFilePaths, r.TopSyscallIDs)
	if renamed[b] != renames/2 || renamed[a] != renames/2 {
		t.Fatalf("exported renames: %v, want %d to each name", renamed, renames/2)
	}

	rank := func(rows []stats.PathCount, path string) (int, uint64) {
		for i, row := range rows {
			if row.Path == path {
				return i, row.Count
			}
		}
		return -1, 0
	}
	// Other tests' workloads may run at the same time (go test ./... runs
	// packages in parallel): the workload's rows must be among the top,
	// with exact counts; their rank is logged.
	if i, n := rank(r.TopInitiatorPaths, renamer); i < 0 || n != uint64(produced) {
		t.Errorf("initiator %s: rank %d count %d, want its %d events", renamer, i, n, produced)
	} else {
		t.Logf("initiator rank %d", i)
	}
	for _, p := range []string{a, b} {
		if i, n := rank(r.TopFilePaths, p); i < 0 || n != renames/2 {
			t.Errorf("file path %s: rank %d count %d, want %d", p, i, n, renames/2)
		} else {
			t.Logf("file path %s rank %d", p, i)
		}
	}
	found := false
	for i, s := range r.TopSyscallIDs {
		if s.ID == 82 {
			found = true
			t.Logf("rename (82): rank %d, %d calls (the workload made %d)", i, s.Count, renames)
			if s.Name != "rename" || s.Count < renames {
				t.Errorf("syscall 82: %+v, want rename with at least %d calls", s, renames)
			}
		}
	}
	if !found {
		t.Errorf("rename (82) not among the top syscalls %v", r.TopSyscallIDs)
	}
}

// exitExported reports whether the complete lines of the events file hold
// the process.exit of pid.
func exitExported(t *testing.T, events string, pid int) bool {
	b, _ := os.ReadFile(events)
	b = b[:bytes.LastIndexByte(b, '\n')+1]
	if !bytes.Contains(b, []byte(`"intValue":"`+strconv.Itoa(pid)+`"`)) {
		return false
	}
	for _, lr := range parseOutput(t, b).records {
		if p, _ := attr(lr, "process.pid"); lr.EventName() == "process.exit" && p.Int() == int64(pid) {
			return true
		}
	}
	return false
}

// droppedTotal is the sum of sensor.events.dropped in the last metrics.
func droppedTotal(out output) int64 {
	if len(out.metrics) == 0 {
		return -1
	}
	var n int64
	ms := out.metrics[len(out.metrics)-1].ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	for i := range ms.Len() {
		if m := ms.At(i); m.Name() == "sensor.events.dropped" {
			for j := range m.Sum().DataPoints().Len() {
				n += m.Sum().DataPoints().At(j).IntValue()
			}
		}
	}
	return n
}

func mustExecutable(t *testing.T) string {
	t.Helper()
	p, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
