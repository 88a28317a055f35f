package config

import (
	"strings"
	"testing"
)

func TestHealthSocket(t *testing.T) {
	for _, tc := range []struct {
		name   string
		src    Sources
		socket string // the effective value; "" with err set
		err    string
	}{
		{"default", Sources{}, DefaultHealthSocket, ""},
		{"file", Sources{File: writeFile(t, "health:\n  socket: /var/run/s/h.sock\n")}, "/var/run/s/h.sock", ""},
		{"environment", Sources{Environ: []string{"OTEL_SENSOR_HEALTH__SOCKET=/tmp/x/h.sock"}}, "/tmp/x/h.sock", ""},
		{"off", Sources{Environ: []string{"OTEL_SENSOR_HEALTH__SOCKET="}}, "", ""},
		{"relative", Sources{Environ: []string{"OTEL_SENSOR_HEALTH__SOCKET=h.sock"}}, "", "absolute"},
		{"in /", Sources{Environ: []string{"OTEL_SENSOR_HEALTH__SOCKET=/h.sock"}}, "", "directory of its own"},
		{"too long", Sources{Environ: []string{"OTEL_SENSOR_HEALTH__SOCKET=/" + strings.Repeat("d", 100) + "/health.sock"}}, "", "107 bytes"},
		{"unknown key", Sources{File: writeFile(t, "health:\n  path: /x/y\n")}, "", "unknown key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load(tc.src)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "health.") {
					t.Fatalf("got %v, want an error about health.* mentioning %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Health.Socket != tc.socket {
				t.Errorf("socket %q, want %q", cfg.Health.Socket, tc.socket)
			}
		})
	}
}
