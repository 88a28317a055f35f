package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otel-sensor/otel-sensor/config"
)

// logLines logs one record at each level and returns the lines written.
func logLines(t *testing.T, c config.Log, stderr *bytes.Buffer) []string {
	t.Helper()
	log, _, closeLog, err := newLogger(c, stderr)
	if err != nil {
		t.Fatal(err)
	}
	log.Debug("at debug", "k", 1)
	log.Info("at info", "k", 2)
	log.Warn("at warn", "k", 3)
	log.Error("at error", "k", 4)
	if err := closeLog(); err != nil {
		t.Fatal(err)
	}
	out := stderr.String()
	if c.Output != config.LogStderr {
		if stderr.Len() != 0 {
			t.Errorf("log.output is a file, yet stderr has %q", stderr)
		}
		b, err := os.ReadFile(c.Output)
		if err != nil {
			t.Fatal(err)
		}
		out = string(b)
	}
	return strings.Split(strings.TrimSuffix(out, "\n"), "\n")
}

func TestLogKeys(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		log  config.Log
		want []string // messages written, in order
	}{
		{"defaults: info and up, text, stderr", config.Log{Level: "info", Format: "text", Output: config.LogStderr}, []string{"at info", "at warn", "at error"}},
		{"debug", config.Log{Level: "debug", Format: "text", Output: config.LogStderr}, []string{"at debug", "at info", "at warn", "at error"}},
		{"warn", config.Log{Level: "warn", Format: "json", Output: config.LogStderr}, []string{"at warn", "at error"}},
		{"error to a file as JSON", config.Log{Level: "error", Format: "json", Output: filepath.Join(dir, "a.log")}, []string{"at error"}},
		{"info to a file as text", config.Log{Level: "info", Format: "text", Output: filepath.Join(dir, "b.log")}, []string{"at info", "at warn", "at error"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			lines := logLines(t, tc.log, &stderr)
			if len(lines) != len(tc.want) {
				t.Fatalf("%d lines, want %d: %q", len(lines), len(tc.want), lines)
			}
			for i, line := range lines {
				if tc.log.Format == "json" {
					var rec map[string]any
					if err := json.Unmarshal([]byte(line), &rec); err != nil {
						t.Fatalf("line %q is not JSON: %v", line, err)
					}
					if rec["msg"] != tc.want[i] || rec["level"] == nil || rec["time"] == nil || rec["k"] == nil {
						t.Errorf("record %v, want msg %q with level, time and k", rec, tc.want[i])
					}
					continue
				}
				if !strings.Contains(line, "msg=\""+tc.want[i]+"\"") || !strings.Contains(line, "level=") {
					t.Errorf("line %q, want msg %q", line, tc.want[i])
				}
			}
		})
	}
}

// A log file is appended to, and created 0600.
func TestLogFileAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sensor.log")
	c := config.Log{Level: "info", Format: "json", Output: path}
	for range 2 {
		log, _, closeLog, err := newLogger(c, nil)
		if err != nil {
			t.Fatal(err)
		}
		log.Info("started")
		closeLog()
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("log file %v %v, want mode 0600", fi, err)
	}
	f, _ := os.Open(path)
	defer f.Close()
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); n++ {
	}
	if n != 2 {
		t.Fatalf("%d lines, want 2 (appended)", n)
	}
	if _, _, _, err := newLogger(config.Log{Level: "info", Format: "text", Output: filepath.Join(path, "not-a-dir", "x.log")}, nil); err == nil {
		t.Fatal("a log file that cannot be created is not an error")
	}
}

// The level a reload sets applies at once.
func TestLogLevelChanges(t *testing.T) {
	var stderr bytes.Buffer
	log, level, _, err := newLogger(config.Log{Level: "warn", Format: "text", Output: config.LogStderr}, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	level.Set(slog.LevelDebug)
	log.Debug("shown")
	if s := stderr.String(); strings.Contains(s, "hidden") || !strings.Contains(s, "shown") {
		t.Fatalf("log %q", s)
	}
}
