package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otel-sensor/otel-sensor/internal/health"
	"github.com/otel-sensor/otel-sensor/internal/kerneltest"
)

// waitFor polls cond until it holds, failing t after within.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func fileContains(path, s string) bool {
	b, _ := os.ReadFile(path)
	return bytes.Contains(b, []byte(s))
}

// exited reports whether process pid has ended (a zombie not yet waited
// for counts as ended).
func exited(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	_, rest, _ := bytes.Cut(b, []byte(") "))
	return len(rest) == 0 || rest[0] == 'Z'
}

// startSensorLogFile runs `otel-sensor run` whose configuration sends its
// log to logFile, with env added to the environment, and waits until the
// log says it is running.
func startSensorLogFile(t *testing.T, bin, logFile string, env []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"run"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	deadline := time.Now().Add(30 * time.Second)
	for !fileContains(logFile, "sensor running") {
		if exited(cmd.Process.Pid) || time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile)
			errOut, _ := os.ReadFile(stderr.Name())
			t.Fatalf("sensor not running (exited %v)\nlog:\n%s\nstderr:\n%s", exited(cmd.Process.Pid), log, errOut)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cmd
}

// config set changes the exclusions of a running daemon at once (SIGHUP
// to the pid its health socket reports, then waiting for the reload), and
// says when a key needs a restart instead. The daemon logs JSON lines to
// the file log.output names.
func TestConfigSetReloadsRunningDaemon(t *testing.T) {
	kerneltest.Require(t)
	bin := buildSensor(t)
	dir := t.TempDir()
	quiet := filepath.Join(dir, "quiet-true")
	b, _ := os.ReadFile("/bin/true")
	os.WriteFile(quiet, b, 0o755)
	events, logFile, sock := filepath.Join(dir, "events.jsonl"), filepath.Join(dir, "sensor.log"), filepath.Join(dir, "run", "health.sock")
	cfgFile := filepath.Join(dir, "config.yaml")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf("output: %s\nhealth:\n  socket: %s\nlog:\n  format: json\n  output: %s\n", events, sock, logFile)), 0o600)
	sensor := startSensorLogFile(t, bin, logFile, nil, "--config", cfgFile)

	set := func(key, value string) string {
		t.Helper()
		out, err := exec.Command(bin, "config", "set", "--config", cfgFile, key, value).CombinedOutput()
		if err != nil {
			t.Fatalf("config set %s %s: %v\n%s", key, value, err, out)
		}
		return string(out)
	}
	applied := fmt.Sprintf("applied by the running daemon (pid %d) without a restart", sensor.Process.Pid)

	if out := set("exclude.initiators", "[{path: "+quiet+"}]"); !strings.Contains(out, applied) {
		t.Fatalf("config set exclude.initiators: %q, want %q", out, applied)
	}
	exec.Command(quiet, "while-excluded").Run()
	if out := set("exclude.initiators", "[]"); !strings.Contains(out, applied) {
		t.Fatalf("config set exclude.initiators []: %q", out)
	}
	waitFor(t, 10*time.Second, "the program reported once the exclusion is removed", func() bool {
		exec.Command(quiet, "after-set").Run()
		return fileContains(events, "after-set")
	})
	if out := set("log.level", "warn"); !strings.Contains(out, applied) {
		t.Fatalf("config set log.level: %q", out)
	}
	if out := set("export.queue_size", "16384"); !strings.Contains(out, "export.queue_size takes effect when the sensor next starts") || strings.Contains(out, "applied") {
		t.Fatalf("config set export.queue_size: %q", out)
	}
	live, err := health.Query(context.Background(), sock)
	if err != nil {
		t.Fatal(err)
	}
	if live.Reloads != 3 || live.LastReloadError != "" || live.LastReload == nil {
		t.Errorf("reloads %d (last %v, error %q), want 3 (no SIGHUP for a key that needs a restart)", live.Reloads, live.LastReload, live.LastReloadError)
	}
	stopSensor(t, sensor, syscall.SIGTERM)

	out := parseOutput(t, mustRead(t, events))
	var while int
	for _, lr := range out.records {
		if a, ok := attr(lr, "process.command_args"); ok && a.Slice().Len() == 2 && a.Slice().At(1).Str() == "while-excluded" {
			while++
		}
	}
	if while != 0 {
		t.Errorf("the program was reported %d times while excluded", while)
	}

	// The log: JSON lines with time, level and msg; two reloads logged at
	// info, and after log.level warn no info record (the stop's).
	var reloadsLogged int
	f, _ := os.Open(logFile)
	defer f.Close()
	sc := bufio.NewScanner(f)
	var stopping bool
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
		}
		if rec["time"] == nil || rec["level"] == nil || rec["msg"] == nil {
			t.Errorf("log record %v lacks time, level or msg", rec)
		}
		if strings.HasPrefix(rec["msg"].(string), "SIGHUP: exclusions and log.level applied") {
			reloadsLogged++
		}
		stopping = stopping || strings.HasPrefix(rec["msg"].(string), "stopping")
	}
	if reloadsLogged != 2 {
		t.Errorf("%d reloads logged at info, want 2 (the third set the level to warn)", reloadsLogged)
	}
	if stopping {
		t.Error("the stop was logged at info after log.level warn")
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
