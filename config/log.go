package config

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
)

// LogStderr is the log.output that writes the sensor's log to standard
// error (the journal under systemd).
const LogStderr = "stderr"

// Log configures the sensor's own log (not the events): log/slog records,
// one per line. The sensor never logs per event.
type Log struct {
	// Level is debug, info, warn or error: records below it are not
	// written. A running sensor applies a change on SIGHUP.
	Level string `koanf:"level"`
	// Format is text (key=value) or json (one JSON object per line).
	Format string `koanf:"format"`
	// Output is stderr, or the absolute path of a file appended to
	// (created 0600).
	Output string `koanf:"output"`
}

func defaultLog() Log { return Log{Level: "info", Format: "text", Output: LogStderr} }

// SlogLevel is Level as a slog.Level (Level must be valid).
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

func (l Log) validate() error {
	bad := func(key, format string, args ...any) error {
		return &Error{Key: "log." + key, Source: "effective configuration", Err: fmt.Errorf(format, args...)}
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, l.Level) {
		return bad("level", "must be debug, info, warn or error, not %q", l.Level)
	}
	if !slices.Contains([]string{"text", "json"}, l.Format) {
		return bad("format", "must be text or json, not %q", l.Format)
	}
	if l.Output != LogStderr && !filepath.IsAbs(l.Output) {
		return bad("output", "must be stderr or an absolute file path, not %q", l.Output)
	}
	return nil
}
