package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/otel-sensor/otel-sensor/config"
)

// configFile writes a configuration file whose health socket nobody
// serves, so that no daemon on this machine is involved.
func configFile(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "config.yaml")
	body = "health:\n  socket: " + filepath.Join(dir, "run", "health.sock") + "\n" + body
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = execute(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// show prints every layer's keys with their source, in each format, and
// never a header's value.
func TestConfigShow(t *testing.T) {
	file := configFile(t, "provider: netlink\notlp:\n  headers:\n    x-file: file-secret-1\n")
	t.Setenv("OTEL_SENSOR_EXPORT__QUEUE_SIZE", "200")
	t.Setenv("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "authorization=env-secret-2")
	for _, tc := range []struct {
		format string
		check  func(t *testing.T, out string)
	}{
		{"text", func(t *testing.T, out string) {
			for _, want := range [][]string{
				{"provider", "netlink", "file " + file},
				{"export.queue_size", "200", "environment variable OTEL_SENSOR_EXPORT__QUEUE_SIZE"},
				{"export.max_batch", "512", "default"},
				{"output", `""`, "default"},
				{"otlp.logs.insecure", "(unset)", "default"},
				{"otlp.headers.x-file", config.Redacted, "file " + file},
				{"otlp.logs.headers.authorization", config.Redacted, "environment variable OTEL_EXPORTER_OTLP_LOGS_HEADERS"},
				{"log.level", "info", "default"},
			} {
				if !hasRow(out, want) {
					t.Errorf("no row %q in\n%s", want, out)
				}
			}
		}},
		{"json", func(t *testing.T, out string) {
			var m map[string]struct {
				Value  any    `json:"value"`
				Source string `json:"source"`
			}
			if err := json.Unmarshal([]byte(out), &m); err != nil {
				t.Fatal(err)
			}
			if s := m["export.queue_size"]; s.Value != float64(200) || s.Source != "environment variable OTEL_SENSOR_EXPORT__QUEUE_SIZE" {
				t.Errorf("export.queue_size = %+v", s)
			}
			if s := m["provider"]; s.Value != "netlink" || s.Source != "file "+file {
				t.Errorf("provider = %+v", s)
			}
		}},
		{"yaml", func(t *testing.T, out string) {
			var doc struct {
				Provider string
				Export   struct {
					QueueSize int `yaml:"queue_size"`
				}
			}
			if err := yaml.Unmarshal([]byte(out), &doc); err != nil || doc.Provider != "netlink" || doc.Export.QueueSize != 200 {
				t.Errorf("%+v %v", doc, err)
			}
			if !strings.Contains(out, "queue_size: 200 # environment variable OTEL_SENSOR_EXPORT__QUEUE_SIZE\n") {
				t.Errorf("no source comment:\n%s", out)
			}
		}},
	} {
		t.Run(tc.format, func(t *testing.T) {
			code, out, errOut := runCLI("config", "show", "--config", file, "--output", tc.format)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if strings.Contains(out, "secret") {
				t.Errorf("a header value is shown:\n%s", out)
			}
			tc.check(t, out)
		})
	}
}

// hasRow reports whether a line of text has exactly these columns.
func hasRow(text string, cols []string) bool {
	for line := range strings.Lines(text) {
		f := strings.Fields(line)
		if len(f) >= len(cols) && f[0] == cols[0] && f[1] == cols[1] && strings.Join(f[2:], " ") == cols[2] {
			return true
		}
	}
	return false
}

func TestConfigGet(t *testing.T) {
	file := configFile(t, "exclude:\n  syscalls: [openat, \"83\"]\notlp:\n  headers:\n    authorization: s3cret-value\n")
	t.Setenv("OTEL_SENSOR_PROVIDER", "netlink")
	for _, tc := range []struct {
		args []string
		code int
		out  string // stdout, or what stderr contains when code != 0
	}{
		{[]string{"provider"}, 0, "netlink\n"},
		{[]string{"export.queue_size"}, 0, "8192\n"},
		{[]string{"ebpf.poll_interval"}, 0, "100ms\n"},
		{[]string{"exclude.syscalls"}, 0, "[\"openat\",\"83\"]\n"},
		{[]string{"exclude.paths"}, 0, "[]\n"},
		{[]string{"output"}, 0, "\n"},
		{[]string{"otlp.headers"}, 0, "{\"authorization\":\"<redacted>\"}\n"},
		{[]string{"otlp.headers.authorization"}, 0, "<redacted>\n"},
		{[]string{"provder"}, 2, `config key "provder" (config get): unknown key`},
		{[]string{"export"}, 2, `config key "export" (config get): is a section, not a value`},
		{[]string{"otlp.headers.x-none"}, 2, `config key "otlp.headers.x-none" (config get): not set`},
		{[]string{}, 2, "accepts 1 arg"},
		{[]string{"provider", "extra"}, 2, "accepts 1 arg"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := runCLI(append([]string{"config", "get", "--config", file}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d (stdout %q, stderr %q)", code, tc.code, out, errOut)
			}
			if code == 0 && out != tc.out {
				t.Fatalf("stdout %q, want %q", out, tc.out)
			}
			if code != 0 && !strings.Contains(errOut, tc.out) {
				t.Fatalf("stderr %q does not say %q", errOut, tc.out)
			}
		})
	}
}

func TestConfigSet(t *testing.T) {
	const original = "provider: netlink\nexclude:\n  paths: [/old]\n"
	for _, tc := range []struct {
		name string
		args []string
		code int
		out  string // in stdout, or in stderr when code != 0
		want func(config.Config) bool
	}{
		{"list as YAML", []string{"exclude.syscalls", "[openat, 83]"}, 0, "saved exclude.syscalls = [\"openat\",\"83\"] in ",
			func(c config.Config) bool { return strings.Join(c.Exclude.Syscalls, ",") == "openat,83" }},
		{"one value to a list", []string{"exclude.paths", "/var/log/journal"}, 0, "no daemon is running",
			func(c config.Config) bool { return strings.Join(c.Exclude.Paths, ",") == "/var/log/journal" }},
		{"initiators", []string{"exclude.initiators", "[{path: /usr/bin/backup, descendants: true}]"}, 0, "applies when the sensor starts",
			func(c config.Config) bool {
				return len(c.Exclude.Initiators) == 1 && c.Exclude.Initiators[0].Descendants
			}},
		{"restart needed", []string{"export.queue_size", "16384"}, 0, "export.queue_size takes effect when the sensor next starts",
			func(c config.Config) bool { return c.Export.QueueSize == 16384 }},
		{"empty string", []string{"output", ""}, 0, `saved output = "" in`,
			func(c config.Config) bool { return c.Output == "" }},
		{"secret not echoed", []string{"otlp.headers.authorization", "Bearer top-secret"}, 0, "saved otlp.headers.authorization = <redacted>",
			func(c config.Config) bool { return c.OTLP.Headers["authorization"] == "Bearer top-secret" }},
		{"unknown key", []string{"provder", "ebpf"}, 2, `config key "provder" (config set): unknown key`, nil},
		{"bad type", []string{"export.queue_size", "lots"}, 2, `config key "export.queue_size" (config set): bad value lots`, nil},
		{"out of range", []string{"export.queue_size", "0"}, 2, `config key "export.queue_size" (config set): must be at least 1`, nil},
		{"bad choice", []string{"log.format", "xml"}, 2, `config key "log.format" (config set): must be text or json`, nil},
		{"unknown syscall", []string{"exclude.syscalls", "[openat, frobnicate]"}, 2, `config key "exclude.syscalls[1]" (config set): "frobnicate" is not a syscall the sensor hooks`, nil},
		{"not YAML", []string{"exclude.paths", "[/a"}, 2, `config key "exclude.paths" (config set): value "[/a" is not valid YAML`, nil},
		{"missing value", []string{"provider"}, 2, "accepts 2 arg(s)", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := configFile(t, original)
			before, _ := os.ReadFile(file)
			code, out, errOut := runCLI(append([]string{"config", "set", "--config", file}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d (stdout %q, stderr %q)", code, tc.code, out, errOut)
			}
			after, _ := os.ReadFile(file)
			if code != 0 {
				if !strings.Contains(errOut, tc.out) {
					t.Fatalf("stderr %q does not say %q", errOut, tc.out)
				}
				if !bytes.Equal(before, after) {
					t.Fatalf("the file changed after an error:\n%s", after)
				}
				return
			}
			if !strings.Contains(out, tc.out) {
				t.Fatalf("stdout %q does not say %q", out, tc.out)
			}
			if strings.Contains(out, "top-secret") {
				t.Fatalf("stdout shows the secret: %q", out)
			}
			cfg, err := config.Load(config.Sources{File: file, FileRequired: true})
			if err != nil || !tc.want(cfg) || cfg.Provider != "netlink" {
				t.Fatalf("the file loads as %+v (%v):\n%s", cfg, err, after)
			}
		})
	}
}

// show and set reject bad flags and a missing subcommand with exit 2.
func TestConfigUsage(t *testing.T) {
	for _, args := range [][]string{
		{"config"},
		{"config", "frob"},
		{"config", "show", "--output", "toml"},
		{"config", "show", "extra"},
		{"diagnostic", "bundle", "--duration", "0s"},
	} {
		if code, _, errOut := runCLI(args...); code != 2 {
			t.Errorf("%q: exit %d, want 2 (%s)", args, code, errOut)
		}
	}
}
