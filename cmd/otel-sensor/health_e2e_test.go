package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/otel-sensor/otel-sensor/internal/kerneltest"
)

// healthConfig writes a configuration with its own health socket and
// output file.
func healthConfig(t *testing.T) (file, socket, output string) {
	t.Helper()
	dir := t.TempDir()
	socket = filepath.Join(dir, "run", "health.sock")
	output = filepath.Join(dir, "events.jsonl")
	file = filepath.Join(dir, "config.yaml")
	body := fmt.Sprintf("output: %s\nhealth:\n  socket: %s\n", output, socket)
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return file, socket, output
}

// runHealth runs `otel-sensor health --output json` and returns the report
// and the exit code, which must agree with the report's healthy.
func runHealth(t *testing.T, bin, config string) (map[string]any, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "health", "--output", "json", "--config", config)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &m); err != nil {
		t.Fatalf("health output is not JSON (exit %d): %v\n%s\n%s", code, err, stdout.Bytes(), stderr.Bytes())
	}
	if healthy, _ := m["healthy"].(bool); (code == 0) != healthy || (code != 0 && code != 1) {
		t.Fatalf("exit %d with healthy %v (issues %v; stderr %s)", code, m["healthy"], m["health_issues"], stderr.Bytes())
	}
	for k, want := range map[string]string{
		"healthy": "bool", "health_issues": "[]interface {}", "provider": "string", "provider_reason": "string",
		"kernel_release": "string", "btf": "bool", "lockdown": "string", "distribution": "string",
		"events_total": "float64", "events_dropped_total": "float64", "exporter": "map[string]interface {}",
		"daemon_running": "bool", "kernel_policy": "map[string]interface {}", "audit": "map[string]interface {}",
	} {
		if got := fmt.Sprintf("%T", m[k]); got != want {
			t.Errorf("%s is %s (%v), want %s", k, got, m[k], want)
		}
	}
	exp, _ := m["exporter"].(map[string]any)
	for _, k := range []string{"type", "endpoint", "last_error", "queue_size", "queue_capacity", "last_success"} {
		if _, ok := exp[k]; !ok {
			t.Errorf("exporter.%s is missing", k)
		}
	}
	return m, code
}

func uname(t *testing.T) string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	return unix.ByteSliceToString(u.Release[:])
}

// health reads the running daemon's live state: its provider and why, and
// events_total growing as commands run; once the daemon stops, its socket
// is gone and health says it is not running.
func TestHealthReadsRunningDaemon(t *testing.T) {
	kerneltest.Require(t)
	bin := buildSensor(t)
	for _, tc := range []struct {
		args             []string
		provider, reason string
	}{
		{nil, "ebpf", "auto: eBPF programs loaded and attached"},
		{[]string{"--provider", "netlink"}, "netlink", "configured: netlink"},
	} {
		t.Run(tc.provider, func(t *testing.T) {
			config, socket, output := healthConfig(t)
			var stdout bytes.Buffer
			sensor := startSensor(t, bin, &stdout, append([]string{"--config", config}, tc.args...)...)

			fi, err := os.Lstat(socket)
			if err != nil || fi.Mode() != fs.ModeSocket|0o600 || fi.Sys().(*syscall.Stat_t).Uid != 0 {
				t.Fatalf("health socket: %v, %v; want a root-owned socket, mode 0600", fi.Mode(), err)
			}
			if di, err := os.Stat(filepath.Dir(socket)); err != nil || di.Mode().Perm() != 0o700 {
				t.Fatalf("health socket directory: %v, %v; want 0700", di.Mode(), err)
			}

			m, _ := runHealth(t, bin, config)
			if m["daemon_running"] != true || m["provider"] != tc.provider || m["provider_reason"] != tc.reason {
				t.Fatalf("daemon %v provider %v (%v), want running %s (%s)", m["daemon_running"], m["provider"], m["provider_reason"], tc.provider, tc.reason)
			}
			if d, _ := m["daemon"].(map[string]any); d["pid"] != float64(sensor.Process.Pid) {
				t.Errorf("daemon = %v, want pid %d", m["daemon"], sensor.Process.Pid)
			}
			exp := m["exporter"].(map[string]any)
			if exp["type"] != "console" || exp["endpoint"] != output || exp["queue_capacity"] != float64(8192) {
				t.Errorf("exporter = %v, want console to %s with a queue of 8192", exp, output)
			}
			if m["kernel_release"] != uname(t) || m["btf"] != true {
				t.Errorf("kernel_release %v btf %v", m["kernel_release"], m["btf"])
			}

			// Commands run, events_total grows; the first export succeeds.
			start := m["events_total"].(float64)
			deadline := time.Now().Add(30 * time.Second)
			for {
				for range 5 {
					exec.Command("/bin/true", "health-marker").Run()
				}
				m, _ = runHealth(t, bin, config)
				exp := m["exporter"].(map[string]any)
				if m["events_total"].(float64) > start && exp["last_success"] != nil {
					if _, err := time.Parse(time.RFC3339Nano, exp["last_success"].(string)); err != nil {
						t.Errorf("last_success %v: %v", exp["last_success"], err)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("events_total stayed at %v (now %v), last_success %v", start, m["events_total"], exp["last_success"])
				}
			}

			var text bytes.Buffer
			cmd := exec.Command(bin, "health", "--config", config)
			cmd.Stdout = &text
			cmd.Run()
			for _, want := range []string{"daemon:         running: pid " + fmt.Sprint(sensor.Process.Pid), "provider:       " + tc.provider + ": " + tc.reason} {
				if !strings.Contains(text.String(), want) {
					t.Errorf("text output lacks %q:\n%s", want, text.String())
				}
			}

			stopSensor(t, sensor, syscall.SIGTERM)
			if _, err := os.Lstat(socket); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("socket left after the daemon stopped: %v", err)
			}
			if m, code := runHealth(t, bin, config); m["daemon_running"] != false || code != 1 {
				t.Errorf("after stop: daemon_running %v, exit %d", m["daemon_running"], code)
			}
		})
	}
}

// Without a daemon, health says so (exit 1) and reports what it can check
// here: the kernel policy's verdict, BTF, lockdown, audit.
func TestHealthWithoutDaemon(t *testing.T) {
	bin := buildSensor(t)
	config, socket, _ := healthConfig(t)
	m, code := runHealth(t, bin, config)
	if code != 1 || m["daemon_running"] != false || m["provider"] != "none" || m["daemon"] != nil {
		t.Fatalf("exit %d daemon_running %v provider %v daemon %v", code, m["daemon_running"], m["provider"], m["daemon"])
	}
	issues := fmt.Sprint(m["health_issues"])
	if !strings.Contains(issues, "not running (nothing answers on "+socket+")") {
		t.Errorf("issues %s do not say the daemon is not running", issues)
	}
	kp := m["kernel_policy"].(map[string]any)
	if ap := kp["auto_provider"]; ap != "ebpf" && ap != "netlink" {
		t.Errorf("kernel_policy %v", kp)
	}
	if r := m["provider_reason"].(string); !strings.Contains(r, "the daemon is not running; provider auto would") {
		t.Errorf("provider_reason %q", r)
	}
	if m["kernel_release"] != uname(t) {
		t.Errorf("kernel_release %v", m["kernel_release"])
	}
	if os.Geteuid() == 0 {
		if a := m["audit"].(map[string]any); a["checked"] != true {
			t.Errorf("audit not checked as root: %v", a)
		}
	}
}

func TestHealthUsageErrorsExit2(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"health", "--output", "yaml"}, "--output"},
		{[]string{"health", "--no-such-flag"}, "--no-such-flag"},
		{[]string{"health", "extra"}, "extra"},
		{[]string{"health", "--config", "/nonexistent/otel-sensor.yaml"}, "/nonexistent/otel-sensor.yaml"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := execute(context.Background(), tc.args, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 naming %s", code, stderr.String(), tc.want)
			}
		})
	}
	t.Setenv("OTEL_SENSOR_HEALTH__SOCKET", "relative.sock")
	var stdout, stderr bytes.Buffer
	if code := execute(context.Background(), []string{"health"}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "health.socket") {
		t.Fatalf("exit %d, stderr %q; want 2 naming health.socket", code, stderr.String())
	}
}
