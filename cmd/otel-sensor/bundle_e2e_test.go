package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/otel-sensor/otel-sensor/internal/bundle"
	"github.com/otel-sensor/otel-sensor/internal/health"
	"github.com/otel-sensor/otel-sensor/internal/kerneltest"
	"github.com/otel-sensor/otel-sensor/internal/stats"
)

// readBundle returns a bundle's entries by base name, after checking that
// the archive and its entries are 0600 and all in one directory named as
// the default archive is.
func readBundle(t *testing.T, path string) map[string][]byte {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("bundle mode %v, want 0600", fi.Mode().Perm())
	}
	f, _ := os.Open(path)
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	entries := map[string][]byte{}
	var top string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return entries
		}
		if err != nil {
			t.Fatal(err)
		}
		dir, name := filepath.Split(h.Name)
		if top == "" {
			top = dir
		}
		if h.Mode != 0o600 || dir != top || !strings.HasPrefix(dir, "otel-sensor-bundle-") {
			t.Errorf("entry %s mode %#o, want 0600 under otel-sensor-bundle-<host>-<time>/, as the first (%s)", h.Name, h.Mode, top)
		}
		entries[name], _ = io.ReadAll(tr)
	}
}

// manifest parses a MANIFEST: part name → "collected", or the missing
// part's description and reason.
func manifest(t *testing.T, b []byte) map[string]string {
	t.Helper()
	_, body, ok := strings.Cut(string(b), "\n\n")
	if !ok {
		t.Fatalf("MANIFEST has no header:\n%s", b)
	}
	parts := map[string]string{}
	for line := range strings.Lines(body) {
		f := strings.SplitN(strings.TrimSuffix(line, "\n"), "\t", 3)
		if len(f) != 3 || (f[0] != "collected" && f[0] != "missing") {
			t.Fatalf("MANIFEST line %q", line)
		}
		parts[f[1]] = f[0]
		if f[0] == "missing" {
			parts[f[1]] = f[2]
		}
	}
	return parts
}

// A bundle made on this machine, with a daemon running and without one,
// holds every part (or says why not), its JSON parts parse, and the OTLP
// header's secret is nowhere in it.
func TestDiagnosticBundle(t *testing.T) {
	kerneltest.Require(t)
	bin := buildSensor(t)
	const secret = "secret-token-XYZ"
	env := []string{"OTEL_EXPORTER_OTLP_HEADERS=authorization=" + secret}
	jsonParts := []string{"config.json", "health.json", "kernel.json", "stats.json", "bpf.json"}

	check := func(t *testing.T, entries map[string][]byte, missing map[string]string) {
		t.Helper()
		parts := manifest(t, entries[bundle.ManifestName])
		for name := range entries {
			if _, ok := parts[name]; !ok && name != bundle.ManifestName {
				t.Errorf("%s is not in the MANIFEST", name)
			}
		}
		for _, name := range append(slices.Clone(jsonParts), "logs.txt") {
			switch why, ok := parts[name]; {
			case !ok:
				t.Errorf("the MANIFEST does not list %s", name)
			case missing[name] != "":
				if !strings.Contains(why, missing[name]) {
					t.Errorf("%s: %q, want it missing because %q", name, why, missing[name])
				}
				if _, ok := entries[name]; ok {
					t.Errorf("%s is in the bundle though listed as missing", name)
				}
			case why != "collected":
				t.Errorf("%s not collected: %s", name, why)
			}
		}
		for _, name := range jsonParts {
			if b, ok := entries[name]; ok && !json.Valid(b) {
				t.Errorf("%s is not valid JSON:\n%s", name, b)
			}
		}
		for name, b := range entries {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s holds the secret", name)
			}
		}
		var cfg map[string]settingJSON
		json.Unmarshal(entries["config.json"], &cfg)
		if h := cfg["otlp.headers.authorization"]; h.Value != "<redacted>" || h.Source != "environment variable OTEL_EXPORTER_OTLP_HEADERS" {
			t.Errorf("config.json's otlp.headers.authorization = %+v", h)
		}
		var k struct {
			Uname    struct{ Release string }
			Features map[string]struct{ State string }
			Policy   struct {
				EBPFAllowed bool `json:"ebpf_allowed"`
			}
			Cmdline string
		}
		json.Unmarshal(entries["kernel.json"], &k)
		if k.Uname.Release == "" || k.Features["btf"].State != "present" || !k.Policy.EBPFAllowed || k.Cmdline == "" {
			t.Errorf("kernel.json: %+v", k)
		}
		var r stats.Report
		if err := json.Unmarshal(entries["stats.json"], &r); err != nil || r.DurationSeconds < 0.9 {
			t.Errorf("stats.json: %+v %v", r, err)
		}
		busy := false
		for _, p := range r.TopFilePaths {
			busy = busy || strings.HasSuffix(p.Path, "/busy-file")
		}
		if !busy {
			t.Errorf("stats.json does not count the busy file: %+v", r.TopFilePaths)
		}
	}
	// bundleCmd runs diagnostic bundle while a file is written over and
	// over, so that its stats window, whenever it opens, counts something.
	bundleCmd := func(dir, cfgFile string, args ...string) string {
		t.Helper()
		stop, done := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				default:
					exec.Command("/usr/bin/touch", filepath.Join(dir, "busy-file")).Run()
				}
			}
		}()
		cmd := exec.Command(bin, append([]string{"diagnostic", "bundle", "--config", cfgFile, "--duration", "1s"}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		cmd.Dir = dir
		out, err := cmd.Output()
		close(stop)
		<-done
		if err != nil {
			t.Fatalf("diagnostic bundle: %v\n%s", err, out)
		}
		return string(out)
	}

	t.Run("daemon running", func(t *testing.T) {
		dir := t.TempDir()
		logFile, sock := filepath.Join(dir, "sensor.log"), filepath.Join(dir, "run", "health.sock")
		cfgFile := filepath.Join(dir, "config.yaml")
		os.WriteFile(cfgFile, []byte(fmt.Sprintf("output: %s\nhealth:\n  socket: %s\nlog:\n  format: json\n  output: %s\n",
			filepath.Join(dir, "events.jsonl"), sock, logFile)), 0o600)
		sensor := startSensorLogFile(t, bin, logFile, env, "--config", cfgFile)
		out := filepath.Join(dir, "support.tar.gz")
		stdout := bundleCmd(dir, cfgFile, "--out", out)
		stopSensor(t, sensor, syscall.SIGTERM)
		if !strings.HasPrefix(stdout, "wrote "+out+" (6 parts)") {
			t.Errorf("stdout %q", stdout)
		}
		entries := readBundle(t, out)
		check(t, entries, nil)

		var h health.Report
		json.Unmarshal(entries["health.json"], &h)
		if !h.DaemonRunning || h.Daemon == nil || h.Daemon.PID != sensor.Process.Pid || h.Provider != "ebpf" {
			t.Errorf("health.json: running %v, daemon %+v, provider %s", h.DaemonRunning, h.Daemon, h.Provider)
		}
		var b bundle.BPF
		json.Unmarshal(entries["bpf.json"], &b)
		var ran bool
		for _, p := range b.Programs {
			ran = ran || (p.Name == "handle_sys_exit" && p.WindowRunCount != nil && *p.WindowRunCount > 0)
		}
		if !ran || len(b.Maps) == 0 || !strings.HasPrefix(b.Stats, "enabled") {
			t.Errorf("bpf.json: stats %q, %d programs, %d maps; want the daemon's handle_sys_exit with runs in the window", b.Stats, len(b.Programs), len(b.Maps))
		}
		if !bytes.Contains(entries["logs.txt"], []byte(`"msg":"sensor running"`)) {
			t.Errorf("logs.txt lacks the daemon's start:\n%s", entries["logs.txt"])
		}
	})

	t.Run("no daemon", func(t *testing.T) {
		dir := t.TempDir()
		cfgFile := filepath.Join(dir, "config.yaml")
		os.WriteFile(cfgFile, []byte("health:\n  socket: "+filepath.Join(dir, "run", "health.sock")+"\n"), 0o600)
		stdout := bundleCmd(dir, cfgFile)
		found, _ := filepath.Glob(filepath.Join(dir, "otel-sensor-bundle-*-*Z.tar.gz"))
		if len(found) != 1 {
			t.Fatalf("default bundle name: found %v (stdout %q)", found, stdout)
		}
		if !strings.Contains(stdout, "not collected: logs.txt") {
			t.Errorf("stdout %q does not name the part not collected", stdout)
		}
		entries := readBundle(t, found[0])
		check(t, entries, map[string]string{"logs.txt": "log.output is stderr"})
		var h health.Report
		json.Unmarshal(entries["health.json"], &h)
		if h.DaemonRunning || h.Provider != "none" {
			t.Errorf("health.json: running %v, provider %s", h.DaemonRunning, h.Provider)
		}
	})
}
