package health

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/otel-sensor/otel-sensor/internal/stats"
	"io/fs"
	"net"
	"syscall"
	"time"
)

// ErrNotRunning is returned by Query when no daemon answers on the socket:
// there is no socket file, or nothing listens on it.
var ErrNotRunning = errors.New("the daemon is not running")

// maxResponse bounds the answer read from the daemon.
const maxResponse = 1 << 20

// Query asks the daemon listening on path for its Live state. The errors
// are ErrNotRunning when nothing answers; fs.ErrPermission when this
// process may not connect (it is not root); else what failed. Without a
// deadline in ctx, Query gives up after 5 seconds.
func Query(ctx context.Context, path string) (Live, error) {
	live, _, err := QueryPeer(ctx, path)
	return live, err
}

// QueryPeer is Query that also returns the pid of the process that
// answered as this process's PID namespace numbers it (SO_PEERCRED): the
// pid to signal. Live.PID is the daemon's own number, which differs when
// the daemon runs in another PID namespace (a container).
func QueryPeer(ctx context.Context, path string) (Live, int, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, requestTimeout)
		defer cancel()
	}
	resp, pid, err := exchange(ctx, path, request{Request: "status"})
	if err != nil {
		return Live{}, 0, err
	}
	if resp.Live == nil {
		return Live{}, 0, errors.New("health request refused: no state in the answer")
	}
	return *resp.Live, pid, nil
}

// QueryStats asks the daemon for a diagnostic stats window of d with the
// top n of each list; it waits for the window. Errors as Query's.
func QueryStats(ctx context.Context, path string, d time.Duration, n int) (stats.Report, error) {
	ctx, cancel := context.WithTimeout(ctx, d+requestTimeout)
	defer cancel()
	resp, _, err := exchange(ctx, path, request{Request: "stats", DurationMS: d.Milliseconds(), Top: n})
	if err != nil {
		return stats.Report{}, err
	}
	if resp.Stats == nil {
		return stats.Report{}, errors.New("stats request refused: no report in the answer")
	}
	return *resp.Stats, nil
}

// exchange sends one request and reads one answer, within ctx; pid is the
// answering process's (peerCred).
func exchange(ctx context.Context, path string, req request) (resp response, pid int, err error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ECONNREFUSED):
		return response{}, 0, fmt.Errorf("%w (nothing answers on %s)", ErrNotRunning, path)
	case err != nil:
		return response{}, 0, fmt.Errorf("connect to health socket: %w", err)
	}
	conn := c.(*net.UnixConn)
	defer conn.Close()
	cred, err := peerCred(conn)
	if err != nil {
		return response{}, 0, fmt.Errorf("health socket peer: %w", err)
	}
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	b, err := json.Marshal(req)
	if err != nil {
		return response{}, 0, err
	}
	if _, err := conn.Write(append(b, '\n')); err != nil {
		return response{}, 0, fmt.Errorf("send health request: %w", err)
	}
	r := bufio.NewReaderSize(conn, maxResponse)
	line, err := r.ReadSlice('\n')
	if err != nil {
		return response{}, 0, fmt.Errorf("read health answer: %w (the daemon answers only root)", err)
	}
	if err := json.Unmarshal(line, &resp); err != nil {
		return response{}, 0, fmt.Errorf("decode health answer: %w", err)
	}
	if resp.Error != "" {
		return response{}, 0, fmt.Errorf("health request refused: %s", resp.Error)
	}
	return resp, int(cred.Pid), nil
}
