package config

import (
	"errors"
	"path/filepath"
)

// DefaultHealthSocket is where `run` serves its live state and `health`
// reads it.
const DefaultHealthSocket = "/run/otel-sensor/health.sock"

// Health configures the health socket: `run` answers status requests on it,
// and `otel-sensor health` reads the running daemon's state from it.
type Health struct {
	// Socket is the unix socket's path. `run` creates its directory 0700
	// and the socket 0600, owned by the user it runs as (root), so only
	// root can connect. Empty: no socket (health then reports the daemon
	// as not running).
	Socket string `koanf:"socket"`
}

func defaultHealth() Health { return Health{Socket: DefaultHealthSocket} }

// maxSocketPath is the longest path a unix socket address holds
// (sun_path is 108 bytes with the terminating NUL).
const maxSocketPath = 107

func (h Health) validate() error {
	bad := func(err error) error {
		return &Error{Key: "health.socket", Source: "effective configuration", Err: err}
	}
	switch {
	case h.Socket == "":
		return nil
	case !filepath.IsAbs(h.Socket):
		return bad(errors.New("must be an absolute path, not " + h.Socket))
	case len(h.Socket) > maxSocketPath:
		return bad(errors.New("is longer than the 107 bytes a unix socket path may have"))
	case filepath.Dir(h.Socket) == "/":
		return bad(errors.New("must be in a directory of its own (the directory is made 0700), not in /"))
	}
	return nil
}
