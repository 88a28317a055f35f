package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Every layer shows as the source of the keys it set, and a later layer's
// source replaces an earlier one's, key by key.
func TestSettingsShowEachLayer(t *testing.T) {
	file := writeFile(t, `provider: netlink
output: /from/file
export:
  queue_size: 100
  max_batch: 7
otlp:
  headers:
    x-file: file-secret
  logs:
    headers:
      x-logs: logs-secret
exclude:
  paths: [/var/log]
`)
	cfg, prov, err := LoadWithSources(Sources{
		File: file,
		Environ: []string{
			"OTEL_EXPORTER_OTLP_ENDPOINT=http://c:4317",
			"OTEL_EXPORTER_OTLP_HEADERS=authorization=env-secret",
			"OTEL_LOGS_EXPORTER=console",
			"OTEL_SENSOR_EXPORT__QUEUE_SIZE=200",
			"OTEL_SENSOR_OUTPUT=/from/env",
		},
		Flags: []Flag{{Name: "--output", Key: "output", Value: "/from/flag"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Setting{}
	for _, s := range Settings(cfg, prov) {
		if _, dup := got[s.Key]; dup {
			t.Errorf("%s listed twice", s.Key)
		}
		got[s.Key] = s
	}
	for _, tc := range []struct {
		key    string
		value  any
		source string
	}{
		{"provider", "netlink", "file " + file},
		{"export.max_batch", 7, "file " + file},
		{"export.queue_size", 200, "environment variable OTEL_SENSOR_EXPORT__QUEUE_SIZE"},
		{"output", "/from/flag", "flag --output"},
		{"otlp.endpoint", "http://c:4317", "environment variable OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"export.logs_exporter", "console", "environment variable OTEL_LOGS_EXPORTER"},
		{"export.flush_interval", "200ms", SourceDefault},
		{"export.metrics_interval", "1m", SourceDefault},
		{"otlp.retry.max_elapsed_time", "5m", SourceDefault},
		{"otlp.insecure", false, SourceDefault},
		{"otlp.logs.insecure", nil, SourceDefault},
		{"otlp.metrics.headers", nil, SourceDefault},
		// The variable replaced the file's headers whole: only its entry.
		{"otlp.headers.authorization", Redacted, "environment variable OTEL_EXPORTER_OTLP_HEADERS"},
		{"otlp.logs.headers.x-logs", Redacted, "file " + file},
		{"exclude.paths", []any{"/var/log"}, "file " + file},
		{"exclude.syscalls", []any{}, SourceDefault},
		{"log.level", "info", SourceDefault},
	} {
		s, ok := got[tc.key]
		if !ok {
			t.Errorf("%s not listed", tc.key)
			continue
		}
		if !reflect.DeepEqual(s.Value, tc.value) || s.Source != tc.source {
			t.Errorf("%s = %#v from %q, want %#v from %q", tc.key, s.Value, s.Source, tc.value, tc.source)
		}
	}
	if _, ok := got["otlp.headers.x-file"]; ok {
		t.Error("a header the environment replaced is still listed")
	}
	if _, ok := got["otlp.headers"]; ok {
		t.Error("otlp.headers listed whole although it has entries")
	}

	// Every key of the schema is listed: the example file's keys are.
	example, err := readFile(Sources{File: "example.yaml", FileRequired: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range example.Keys() {
		if _, ok := got[key]; !ok && key != "otlp.headers" {
			t.Errorf("example.yaml's %s not listed", key)
		}
	}

	b, err := YAML(Settings(cfg, prov))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"file-secret", "logs-secret", "env-secret"} {
		if strings.Contains(string(b), secret) {
			t.Errorf("YAML shows the secret %s:\n%s", secret, b)
		}
	}
	if !strings.Contains(string(b), "queue_size: 200 # environment variable OTEL_SENSOR_EXPORT__QUEUE_SIZE\n") {
		t.Errorf("YAML lacks the source comment:\n%s", b)
	}
	// The YAML is a configuration file (with the secrets' placeholders).
	back, err := Load(Sources{File: writeFile(t, string(b)), FileRequired: true})
	if err != nil {
		t.Fatalf("show's YAML does not load: %v\n%s", err, b)
	}
	if back.Export.QueueSize != 200 || back.Output != "/from/flag" || back.OTLP.Logs.Headers["x-logs"] != Redacted {
		t.Errorf("show's YAML loads as %+v", back)
	}
}

func TestValue(t *testing.T) {
	cfg, err := Load(Sources{File: writeFile(t, "otlp:\n  headers:\n    authorization: s3cret\nexclude:\n  syscalls: [openat]\n")})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key  string
		want any
		err  string
	}{
		{key: "provider", want: "auto"},
		{key: "ebpf.poll_interval", want: "100ms"},
		{key: "export.queue_size", want: 8192},
		{key: "exclude.syscalls", want: []any{"openat"}},
		{key: "otlp.headers", want: map[string]any{"authorization": Redacted}},
		{key: "otlp.headers.authorization", want: Redacted},
		{key: "otlp.logs.insecure", want: nil},
		{key: "otlp.headers.x-none", err: "not set"},
		{key: "provder", err: "unknown key"},
		{key: "export.queue", err: "unknown key"},
		{key: "export", err: "is a section"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			got, err := cfg.Value(tc.key)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, %v; want error %q", got, err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v, %v; want %#v", got, err, tc.want)
			}
		})
	}
}

// A value that fails validation names the layer it came from.
func TestValidationErrorNamesTheValuesSource(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  Sources
		want string
	}{
		{"flag", Sources{Flags: []Flag{{Name: "--provider", Key: "provider", Value: "kprobe"}}}, "value from flag --provider"},
		{"env", Sources{Environ: []string{"OTEL_SENSOR_LOG__LEVEL=loud"}}, "value from environment variable OTEL_SENSOR_LOG__LEVEL"},
		{"file list entry", Sources{File: writeFile(t, "exclude:\n  paths: [/ok, rel]\n")}, "value from file "},
		{"default", Sources{Environ: []string{"OTEL_SENSOR_OTLP__RETRY__INITIAL_INTERVAL=1m"}}, "effective configuration): must be at least"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.src)
			var ce *Error
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want it to say %q", err, tc.want)
			}
		})
	}
}

func TestLogKeys(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, errKey string
	}{
		{"defaults", "", ""},
		{"json debug to a file", "log:\n  level: debug\n  format: json\n  output: /var/log/otel-sensor.log\n", ""},
		{"bad level", "log:\n  level: verbose\n", "log.level"},
		{"bad format", "log:\n  format: logfmt\n", "log.format"},
		{"relative output", "log:\n  output: sensor.log\n", "log.output"},
		{"unknown key", "log:\n  colour: true\n", "log.colour"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load(Sources{File: writeFile(t, tc.yaml)})
			if tc.errKey == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.Key != tc.errKey {
				t.Fatalf("got %v (%+v), want an error naming %s", err, cfg.Log, tc.errKey)
			}
		})
	}
}

func TestSetInFile(t *testing.T) {
	const original = "# a comment\nprovider: netlink\nexport:\n  max_batch: 7\nexclude:\n  paths: [/old]\n"
	for _, tc := range []struct {
		name  string
		key   string
		value any
		check func(Config) bool
	}{
		{"scalar", "export.queue_size", 100, func(c Config) bool { return c.Export.QueueSize == 100 }},
		{"list replaces list", "exclude.paths", []any{"/a", "/b"}, func(c Config) bool { return reflect.DeepEqual(c.Exclude.Paths, []string{"/a", "/b"}) }},
		{"single value to a list", "exclude.syscalls", "openat", func(c Config) bool { return reflect.DeepEqual(c.Exclude.Syscalls, []string{"openat"}) }},
		{"list of sections", "exclude.initiators", []any{map[string]any{"path": "/usr/bin/x", "descendants": true}},
			func(c Config) bool {
				return reflect.DeepEqual(c.Exclude.Initiators, []ExcludedInitiator{{"/usr/bin/x", true}})
			}},
		{"duration", "ebpf.poll_interval", "250ms", func(c Config) bool { return c.EBPF.PollInterval == 250*time.Millisecond }},
		{"headers as text", "otlp.headers", "authorization=Bearer%20x,x-b=2", func(c Config) bool {
			return reflect.DeepEqual(c.OTLP.Headers, map[string]string{"authorization": "Bearer x", "x-b": "2"})
		}},
		{"one header", "otlp.headers.authorization", "token", func(c Config) bool { return c.OTLP.Headers["authorization"] == "token" }},
		{"log level", "log.level", "debug", func(c Config) bool { return c.Log.Level == "debug" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := writeFile(t, original)
			os.Chmod(file, 0o640)
			cfg, prov, err := SetInFile(Sources{File: file}, tc.key, tc.value, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(cfg) || !strings.HasPrefix(prov.Source(tc.key), "file ") {
				t.Fatalf("after set, %s = %v from %q", tc.key, mustValue(t, cfg, tc.key), prov.Source(tc.key))
			}
			// What was written loads to the same, with the other keys kept.
			back, err := Load(Sources{File: file, FileRequired: true})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, cfg) || back.Provider != "netlink" || back.Export.MaxBatch != 7 {
				b, _ := os.ReadFile(file)
				t.Fatalf("the file reloads as %+v, want %+v:\n%s", back, cfg, b)
			}
			if tc.key != "exclude.paths" && !reflect.DeepEqual(back.Exclude.Paths, []string{"/old"}) {
				t.Errorf("exclude.paths became %v", back.Exclude.Paths)
			}
			if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o640 {
				t.Errorf("mode %v, want the file's 0640 kept", fi.Mode().Perm())
			}
		})
	}
}

// hooked is SetInFile's check as the CLI makes it: the syscalls are known.
func hooked(c Config) error {
	_, err := c.Exclude.SyscallNumbers(func(name string) (int, bool) { return 257, name == "openat" })
	return err
}

func mustValue(t *testing.T, c Config, key string) any {
	v, err := c.Value(key)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSetInFileCreatesFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "etc", "otel-sensor", "config.yaml")
	if _, _, err := SetInFile(Sources{File: file}, "exclude.syscalls", []any{"openat"}, nil); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("created file: %v, %v; want mode 0600", fi, err)
	}
	cfg, err := Load(Sources{File: file, FileRequired: true})
	if err != nil || !reflect.DeepEqual(cfg.Exclude.Syscalls, []string{"openat"}) {
		t.Fatalf("%+v %v", cfg.Exclude, err)
	}
}

// A value that would not load is refused with an error naming the key and
// "config set", or the layer that makes it invalid, and the file is left
// as it was.
func TestSetInFileErrors(t *testing.T) {
	const original = "provider: netlink\n"
	for _, tc := range []struct {
		name    string
		key     string
		value   any
		environ []string
		errKey  string
		source  string
	}{
		{"unknown key", "provder", "ebpf", nil, "provder", SourceSet},
		{"section", "export", 3, nil, "export", SourceSet},
		{"wrong type", "export.queue_size", "lots", nil, "export.queue_size", SourceSet},
		{"out of range", "export.queue_size", 0, nil, "export.queue_size", SourceSet},
		{"bad choice", "log.level", "loud", nil, "log.level", SourceSet},
		{"relative path in a list", "exclude.paths", []any{"/ok", "rel"}, nil, "exclude.paths[1]", SourceSet},
		{"bad header text", "otlp.headers", "novalue", nil, "otlp.headers", SourceSet},
		{"environment makes it invalid", "export.persistent_queue.enabled", true, []string{"OTEL_LOGS_EXPORTER=console"}, "export.persistent_queue.enabled", SourceSet},
		{"the caller's check", "exclude.syscalls", []any{"openat", "frobnicate"}, nil, "exclude.syscalls[1]", SourceSet},
		{"environment is invalid", "log.level", "debug", []string{"OTEL_SENSOR_EXPORT__MAX_BATCH=0"}, "export.max_batch", "effective configuration; value from environment variable OTEL_SENSOR_EXPORT__MAX_BATCH"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := writeFile(t, original)
			_, _, err := SetInFile(Sources{File: file, Environ: tc.environ}, tc.key, tc.value, hooked)
			var ce *Error
			if !errors.As(err, &ce) || ce.Key != tc.errKey || ce.Source != tc.source {
				t.Fatalf("got %v, want an error naming %s (%s)", err, tc.errKey, tc.source)
			}
			if b, _ := os.ReadFile(file); string(b) != original {
				t.Fatalf("the file changed:\n%s", b)
			}
		})
	}
	// A file that does not parse is not overwritten.
	file := writeFile(t, "provider: [\n")
	_, _, err := SetInFile(Sources{File: file}, "provider", "ebpf", nil)
	var ce *Error
	if !errors.As(err, &ce) || ce.Source != "file "+file {
		t.Fatalf("broken file: %v", err)
	}
}

func TestReloadable(t *testing.T) {
	for key, want := range map[string]bool{
		"exclude.paths": true, "exclude.initiators": true, "exclude.syscalls": true, "log.level": true,
		"log.format": false, "provider": false, "otlp.endpoint": false, "excluded": false,
	} {
		if Reloadable(key) != want {
			t.Errorf("Reloadable(%s) = %v", key, !want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 100 * time.Millisecond: "100ms", time.Minute: "1m", 90 * time.Second: "1m30s",
		time.Hour: "1h", 5 * time.Minute: "5m", time.Hour + time.Second: "1h0m1s",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("%v: got %s, want %s", int64(d), got, want)
		}
		if back, err := time.ParseDuration(formatDuration(d)); err != nil || back != d {
			t.Errorf("%s does not parse back: %v %v", formatDuration(d), back, err)
		}
	}
}

// What show writes as YAML loads back to the same values (headers as their
// placeholders), and a file that loads never makes show fail or leak a
// header value.
func FuzzShowRoundTrip(f *testing.F) {
	f.Add("provider: netlink\nexport:\n  queue_size: 7\n")
	f.Add("otlp:\n  headers:\n    authorization: Bearer abc\n  logs:\n    insecure: true\n")
	f.Add("exclude:\n  initiators:\n    - path: /usr/bin/x\n      descendants: true\n  syscalls: [openat, \"83\"]\n")
	f.Add("ebpf:\n  poll_interval: 1h0m1s\nlog:\n  format: json\n")
	f.Fuzz(func(t *testing.T, body string) {
		dir := t.TempDir()
		file := filepath.Join(dir, "a.yaml")
		os.WriteFile(file, []byte(body), 0o600)
		cfg, prov, err := LoadWithSources(Sources{File: file, FileRequired: true})
		if err != nil {
			return
		}
		settings := Settings(cfg, prov)
		b, err := YAML(settings)
		if err != nil {
			t.Fatalf("YAML: %v", err)
		}
		for _, h := range []map[string]string{cfg.OTLP.Headers, cfg.OTLP.Logs.Headers, cfg.OTLP.Metrics.Headers} {
			for _, v := range h {
				if len(v) >= 4 && v != Redacted && strings.Contains(string(b), v) {
					t.Fatalf("show leaks header value %q:\n%s", v, b)
				}
			}
		}
		back := filepath.Join(dir, "b.yaml")
		os.WriteFile(back, b, 0o600)
		cfg2, prov2, err := LoadWithSources(Sources{File: back, FileRequired: true})
		if err != nil {
			t.Fatalf("show's YAML does not load: %v\n%s", err, b)
		}
		again := Settings(cfg2, prov2)
		if len(again) != len(settings) {
			t.Fatalf("%d settings, then %d:\n%s", len(settings), len(again), b)
		}
		for i := range settings {
			if settings[i].Key != again[i].Key || !reflect.DeepEqual(settings[i].Value, again[i].Value) {
				t.Fatalf("%s = %#v, then %s = %#v:\n%s", settings[i].Key, settings[i].Value, again[i].Key, again[i].Value, b)
			}
		}
	})
}
