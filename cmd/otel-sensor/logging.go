package main

import (
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/otel-sensor/otel-sensor/config"
	"github.com/otel-sensor/otel-sensor/internal/health"
)

// newLogger returns the sensor's own logger as the log.* keys configure it,
// the level a reload may change, and the function that closes the log
// file. A log file is opened for appending, created 0600.
func newLogger(c config.Log, stderr io.Writer) (*slog.Logger, *slog.LevelVar, func() error, error) {
	level := new(slog.LevelVar)
	level.Set(c.SlogLevel())
	w, closeLog := stderr, func() error { return nil }
	if c.Output != config.LogStderr {
		f, err := os.OpenFile(c.Output, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, nil, nil, err
		}
		w, closeLog = f, f.Close
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if c.Format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(h), level, closeLog, nil
}

// reloads records the daemon's configuration reloads (SIGHUP) for the
// health socket.
type reloads struct {
	mu   sync.Mutex
	n    uint64
	last *time.Time
	err  string
}

// done records a reload that began at start and ended with err.
func (r *reloads) done(start time.Time, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	r.last = &start
	r.err = ""
	if err != nil {
		r.err = err.Error()
	}
}

// fill copies the reload state into l.
func (r *reloads) fill(l *health.Live) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l.Reloads, l.LastReload, l.LastReloadError = r.n, r.last, r.err
}
