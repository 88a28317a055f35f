package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/otel-sensor/otel-sensor/internal/kerneltest"
	"github.com/otel-sensor/otel-sensor/internal/stats"
)

// diagnostic stats reads the running daemon's counters over the health
// socket: a workload that creates files during the window is at the top.
func TestDiagnosticStatsFromDaemon(t *testing.T) {
	kerneltest.Require(t)
	bin := buildSensor(t)
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config.yaml")
	sock := filepath.Join(dir, "run", "health.sock")
	os.WriteFile(cfgFile, []byte("output: "+filepath.Join(dir, "events.jsonl")+"\nhealth:\n  socket: "+sock+"\n"), 0o600)
	var stdout bytes.Buffer
	sensor := startSensor(t, bin, &stdout, "--config", cfgFile)

	busy := filepath.Join(dir, "busy-writer")
	b, _ := os.ReadFile("/usr/bin/touch")
	os.WriteFile(busy, b, 0o755)
	target := filepath.Join(dir, "hot-file")
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				exec.Command(busy, target).Run()
			}
		}
	}()
	cmd := exec.Command(bin, "diagnostic", "stats", "--config", cfgFile, "--duration", "2s", "--top", "5", "--output", "json")
	out, err := cmd.Output()
	close(stop)
	<-done
	stopSensor(t, sensor, syscall.SIGTERM)
	if err != nil {
		t.Fatalf("diagnostic stats: %v\n%s", err, out)
	}
	var r stats.Report
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if r.DurationSeconds < 1.9 || r.DurationSeconds > 3 {
		t.Errorf("duration_seconds = %v", r.DurationSeconds)
	}
	find := func(rows []stats.PathCount, path string) uint64 {
		for _, row := range rows {
			if row.Path == path {
				return row.Count
			}
		}
		return 0
	}
	if find(r.TopFilePaths, target) == 0 {
		t.Errorf("%s not among the top file paths %v", target, r.TopFilePaths)
	}
	if find(r.TopInitiatorPaths, busy) == 0 {
		t.Errorf("%s not among the top initiators %v", busy, r.TopInitiatorPaths)
	}
	var openat bool
	for _, s := range r.TopSyscallIDs {
		openat = openat || (s.Name == "openat" && s.ID == 257 && s.Count > 0)
	}
	if !openat {
		t.Errorf("openat not among the top syscalls %v", r.TopSyscallIDs)
	}
}
