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
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrInUse is returned by Start when another process answers on the
// socket's path: a second sensor must not take the first one's socket.
var ErrInUse = errors.New("health socket is in use by another process")

// requestTimeout bounds one request: a client that does not send its
// request and read the answer within it is disconnected.
const requestTimeout = 5 * time.Second

// maxRequest bounds a request line.
const maxRequest = 4 << 10

// request is what a client sends: one JSON object on one line.
type request struct {
	Request string `json:"request"` // "status" or "stats"
	// For "stats": the window, and how many of each list.
	DurationMS int64 `json:"duration_ms,omitempty"`
	Top        int   `json:"top,omitempty"`
}

// StatsFunc runs a diagnostic stats window of d over the daemon's events,
// returning the top n of each list; it ends early when stop is closed.
type StatsFunc func(d time.Duration, n int, stop <-chan struct{}) stats.Report

// maxStatsWindow bounds a stats request's window.
const maxStatsWindow = 10 * time.Minute

// maxConcurrent bounds the connections served at once: a stats window
// must not hold up status requests (readiness probes).
const maxConcurrent = 4

// response is what the server answers: one JSON object on one line, the
// Live state or an error.
type response struct {
	*Live
	Stats *stats.Report `json:"stats,omitempty"`
	Error string        `json:"error,omitempty"`
}

// Server answers health requests on a unix socket with the daemon's Live
// state.
type Server struct {
	path   string
	status func() Live
	stats  StatsFunc

	conns sync.WaitGroup
	stop  chan struct{} // closed by Close: stats windows end early

	ln   *net.UnixListener
	ino  uint64 // the socket file's inode, to remove only our own
	done chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// NewServer returns a server that will listen on path and answer with
// status(), which must be safe for concurrent use. Nothing happens before
// Start.
func NewServer(path string, status func() Live) *Server {
	return &Server{path: path, status: status, stop: make(chan struct{})}
}

// ServeStats makes the server answer "stats" requests with f. Call it
// before Start.
func (s *Server) ServeStats(f StatsFunc) { s.stats = f }

// Start listens on the socket and serves in the background until Close.
// The socket's directory is created 0700 when missing; an existing one must
// not be writable by others. A socket file left by a process that is gone
// is replaced; when a process answers on it, Start fails with ErrInUse. The
// socket is made 0600. ctx bounds the start only.
func (s *Server) Start(ctx context.Context) (err error) {
	if s.ln != nil || s.done != nil {
		return errors.New("start health server: already started")
	}
	dir := filepath.Dir(s.path)
	if err := prepareDir(dir); err != nil {
		return err
	}
	if err := removeStale(ctx, s.path); err != nil {
		return err
	}

	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: s.path, Net: "unix"})
	if err != nil {
		return fmt.Errorf("listen on health socket: %w", err)
	}
	ln.SetUnlinkOnClose(false) // Close removes it, if it is still ours
	defer func() {
		if err != nil {
			ln.Close()
			os.Remove(s.path)
		}
	}()
	// Until the chmod the socket has the umask's mode; the directory
	// (0700, or at least not open to others) and the peer check in answer
	// keep others out meanwhile.
	if err := os.Chmod(s.path, 0o600); err != nil {
		return fmt.Errorf("set health socket mode: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(s.path, &st); err != nil {
		return fmt.Errorf("stat health socket: %w", err)
	}
	s.ln, s.ino = ln, st.Ino
	s.done = make(chan struct{})
	go s.serve()
	return nil
}

// Path is the socket's path.
func (s *Server) Path() string { return s.path }

// Close stops serving, waits for the request in progress and removes the
// socket file (unless another process has replaced it since). It is
// idempotent and safe without Start.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		if s.ln == nil {
			return
		}
		close(s.stop)
		s.closeErr = s.ln.Close()
		<-s.done
		s.conns.Wait()
		var st unix.Stat_t
		if err := unix.Lstat(s.path, &st); err == nil && st.Ino == s.ino {
			if err := os.Remove(s.path); err != nil && s.closeErr == nil {
				s.closeErr = fmt.Errorf("remove health socket: %w", err)
			}
		}
	})
	return s.closeErr
}

func (s *Server) serve() {
	defer close(s.done)
	slots := make(chan struct{}, maxConcurrent)
	for {
		conn, err := s.ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// A transient failure (EMFILE, ECONNABORTED): the next
			// request gets another chance.
			continue
		}
		slots <- struct{}{}
		s.conns.Add(1)
		go func() {
			defer s.conns.Done()
			defer func() { <-slots }()
			s.answer(conn)
		}()
	}
}

// answer serves one connection: peers other than root and the daemon's own
// user are disconnected without an answer.
func (s *Server) answer(conn *net.UnixConn) {
	defer conn.Close()
	cred, err := peerCred(conn)
	if err != nil || (cred.Uid != 0 && int(cred.Uid) != os.Geteuid()) {
		return
	}
	conn.SetDeadline(time.Now().Add(requestTimeout))
	r := bufio.NewReaderSize(conn, maxRequest)
	line, err := r.ReadSlice('\n')
	if err != nil {
		return
	}
	var req request
	var resp response
	switch err := json.Unmarshal(line, &req); {
	case err != nil:
		resp.Error = fmt.Sprintf("bad request: %v", err)
	case req.Request == "status":
		live := s.status()
		resp.Live = &live
	case req.Request == "stats" && s.stats != nil:
		d := min(time.Duration(req.DurationMS)*time.Millisecond, maxStatsWindow)
		n := req.Top
		if n <= 0 {
			n = 10
		}
		conn.SetDeadline(time.Now().Add(d + requestTimeout))
		r := s.stats(d, n, s.stop)
		resp.Stats = &r
	default:
		resp.Error = fmt.Sprintf("unknown request %q (want \"status\" or \"stats\")", req.Request)
	}
	b, err := json.Marshal(resp)
	if err != nil {
		return
	}
	conn.Write(append(b, '\n'))
}

// peerCred returns the credentials of the process at the other end of
// conn (for a client, of the server when it listened), its pid as this
// process's PID namespace numbers it.
func peerCred(conn *net.UnixConn) (*unix.Ucred, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	return cred, cerr
}

// prepareDir creates dir 0700 when missing, and refuses a directory that
// others may write to or that belongs to another user: they could replace
// the socket.
func prepareDir(dir string) error {
	switch err := os.Mkdir(dir, 0o700); {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return fmt.Errorf("create health socket directory: %w", err)
		}
		if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create health socket directory: %w", err)
		}
	case !errors.Is(err, fs.ErrExist):
		return fmt.Errorf("create health socket directory: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return fmt.Errorf("health socket directory: %w", err)
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return fmt.Errorf("health socket directory %s is not a directory", dir)
	case int(st.Uid) != os.Geteuid() && st.Uid != 0:
		return fmt.Errorf("health socket directory %s belongs to uid %d, not to this process (uid %d) or root", dir, st.Uid, os.Geteuid())
	case st.Mode&0o022 != 0:
		return fmt.Errorf("health socket directory %s is writable by others (mode %#o): use a directory of its own", dir, st.Mode&0o7777)
	}
	return nil
}

// removeStale removes a socket file at path that nothing answers on.
func removeStale(ctx context.Context, path string) error {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("health socket: %w", err)
	case fi.Mode().Type() != fs.ModeSocket:
		return fmt.Errorf("health socket path %s exists and is not a socket", path)
	}
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(dctx, "unix", path)
	if err == nil {
		conn.Close()
		return fmt.Errorf("%w: %s", ErrInUse, path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("health socket %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale health socket: %w", err)
	}
	return nil
}
