package health

import (
	"bufio"
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otel-sensor/otel-sensor/internal/kerneltest"
)

func testLive() Live {
	return Live{PID: 42, Version: "test", Provider: "ebpf", ProviderReason: "auto: eBPF programs loaded and attached", EventsTotal: 7,
		Exporter: Exporter{Type: "console", Endpoint: "stdout", QueueCapacity: 8192}}
}

// startServer serves testLive() on a socket in a new directory.
func startServer(t *testing.T) *Server {
	t.Helper()
	srv := NewServer(filepath.Join(t.TempDir(), "run", "health.sock"), testLive)
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func mode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode()
}

func TestServerAnswersStatus(t *testing.T) {
	srv := startServer(t)
	got, err := Query(context.Background(), srv.Path())
	if err != nil {
		t.Fatal(err)
	}
	if want := testLive(); got.PID != want.PID || got.Provider != want.Provider || got.ProviderReason != want.ProviderReason ||
		got.EventsTotal != want.EventsTotal || got.Exporter != want.Exporter {
		t.Errorf("got %+v, want %+v", got, want)
	}

	// The directory is the server's own, 0700; the socket 0600, owned by
	// this process's user; nothing else is left in the directory.
	if m := mode(t, filepath.Dir(srv.Path())); m != fs.ModeDir|0o700 {
		t.Errorf("directory mode %v, want drwx------", m)
	}
	if m := mode(t, srv.Path()); m != fs.ModeSocket|0o600 {
		t.Errorf("socket mode %v, want Srw-------", m)
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(srv.Path(), &st); err != nil || int(st.Uid) != os.Geteuid() {
		t.Errorf("socket owner %d (%v), want %d", st.Uid, err, os.Geteuid())
	}
	if ents, _ := os.ReadDir(filepath.Dir(srv.Path())); len(ents) != 1 {
		t.Errorf("directory holds %v, want only the socket", ents)
	}

	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := os.Lstat(srv.Path()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket left after Close: %v", err)
	}
	if _, err := Query(context.Background(), srv.Path()); !errors.Is(err, ErrNotRunning) {
		t.Errorf("query after Close: %v, want ErrNotRunning", err)
	}
}

// QueryPeer names the process that answered, as this namespace numbers it.
func TestQueryPeer(t *testing.T) {
	srv := startServer(t)
	_, pid, err := QueryPeer(context.Background(), srv.Path())
	if err != nil || pid != os.Getpid() {
		t.Fatalf("peer pid %d (%v), want %d", pid, err, os.Getpid())
	}
}

func TestServerCloseWithoutStart(t *testing.T) {
	if err := NewServer("/nonexistent/h.sock", testLive).Close(); err != nil {
		t.Fatal(err)
	}
}

// staleSocket leaves a socket file at path that nothing listens on, as a
// killed daemon does.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
}

func TestServerStart(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, dir, path string)
		err     string // "" when Start succeeds
	}{
		{"missing parents are created", func(t *testing.T, dir, path string) {}, ""},
		{"stale socket is replaced", func(t *testing.T, dir, path string) {
			os.Mkdir(dir, 0o700)
			staleSocket(t, path)
		}, ""},
		{"a file that is not a socket stays", func(t *testing.T, dir, path string) {
			os.Mkdir(dir, 0o700)
			os.WriteFile(path, []byte("keep"), 0o600)
		}, "not a socket"},
		{"a directory others may write to is refused", func(t *testing.T, dir, path string) {
			os.Mkdir(dir, 0o700)
			os.Chmod(dir, 0o1777)
		}, "writable by others"},
		{"an existing private directory is fine", func(t *testing.T, dir, path string) { os.Mkdir(dir, 0o750) }, ""},
		{"the directory is a file", func(t *testing.T, dir, path string) { os.WriteFile(dir, nil, 0o600) }, "not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "a", "run")
			path := filepath.Join(dir, "health.sock")
			os.MkdirAll(filepath.Dir(dir), 0o755)
			tc.prepare(t, dir, path)
			srv := NewServer(path, testLive)
			err := srv.Start(context.Background())
			t.Cleanup(func() { srv.Close() })
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Start: %v, want an error mentioning %q", err, tc.err)
				}
				if b, _ := os.ReadFile(path); tc.name == "a file that is not a socket stays" && string(b) != "keep" {
					t.Error("the file was touched")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Query(context.Background(), path); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A second daemon does not take the first one's socket.
func TestServerRefusesSocketInUse(t *testing.T) {
	first := startServer(t)
	second := NewServer(first.Path(), func() Live { return Live{PID: 2} })
	if err := second.Start(context.Background()); !errors.Is(err, ErrInUse) {
		t.Fatalf("second Start: %v, want ErrInUse", err)
	}
	second.Close()
	if l, err := Query(context.Background(), first.Path()); err != nil || l.PID != 42 {
		t.Fatalf("the first server no longer answers: %+v, %v", l, err)
	}
}

// Close removes the socket only while it is the server's own.
func TestServerCloseLeavesReplacedSocket(t *testing.T) {
	srv := startServer(t)
	other := filepath.Join(filepath.Dir(srv.Path()), "other.sock")
	staleSocket(t, other)
	if err := os.Rename(other, srv.Path()); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(srv.Path()); err != nil {
		t.Errorf("another process's socket was removed: %v", err)
	}
}

func TestServerBadRequests(t *testing.T) {
	srv := startServer(t)
	for req, want := range map[string]string{
		"not json\n":                    `"error":"bad request`,
		`{"request":"shutdown"}` + "\n": `"error":"unknown request \"shutdown\"`,
		`{"request":"status"}` + "\n":   `"pid":42`,
	} {
		conn, err := net.Dial("unix", srv.Path())
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		conn.Write([]byte(req))
		line, err := bufio.NewReader(conn).ReadString('\n')
		conn.Close()
		if err != nil || !strings.Contains(line, want) {
			t.Errorf("request %q: answer %q (%v), want one containing %q", req, line, err, want)
		}
	}
}

func TestQueryNotRunning(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "stale.sock")
	staleSocket(t, stale)
	for _, path := range []string{filepath.Join(dir, "missing.sock"), stale} {
		if _, err := Query(context.Background(), path); !errors.Is(err, ErrNotRunning) {
			t.Errorf("%s: %v, want ErrNotRunning", path, err)
		}
	}
}

// The helper process of TestSocketRefusesOtherUsers: it dials the socket
// and reports the outcome on stdout.
func TestHelperDialHealthSocket(t *testing.T) {
	path := os.Getenv("HEALTH_TEST_DIAL")
	if path == "" {
		t.Skip("helper process")
	}
	_, err := Query(context.Background(), path)
	switch {
	case err == nil:
		os.Stdout.WriteString("RESULT answered\n")
	case errors.Is(err, syscall.EACCES):
		os.Stdout.WriteString("RESULT EACCES\n")
	default:
		os.Stdout.WriteString("RESULT " + err.Error() + "\n")
	}
}

// Only root can open the socket: a process running as nobody is refused by
// the directory (0700), by the socket (0600) when the directory is opened
// up, and by the server (SO_PEERCRED) when both are.
func TestSocketRefusesOtherUsers(t *testing.T) {
	if os.Geteuid() != 0 {
		kerneltest.Unavailable(t, "needs root to run a process as another user")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		kerneltest.Unavailable(t, "needs setpriv (util-linux): %v", err)
	}
	// The test binary, where nobody may run it.
	binDir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(binDir, "health.test")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t)
	dir := filepath.Dir(srv.Path())
	// Everything above the socket's directory is opened to nobody, so only
	// the layers under test refuse.
	for d := filepath.Dir(dir); d != "/" && d != "."; d = filepath.Dir(d) {
		if strings.HasPrefix(d, os.TempDir()+"/") {
			os.Chmod(d, 0o755)
		}
	}
	for d := binDir; d != "/" && strings.HasPrefix(d, os.TempDir()+"/"); d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}

	dial := func() string {
		cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--", bin, "-test.run=^TestHelperDialHealthSocket$", "-test.v")
		cmd.Env = append(os.Environ(), "HEALTH_TEST_DIAL="+srv.Path())
		out, err := cmd.CombinedOutput()
		for _, l := range strings.Split(string(out), "\n") {
			if r, ok := strings.CutPrefix(l, "RESULT "); ok {
				return r
			}
		}
		t.Fatalf("helper as nobody: %v\n%s", err, out)
		return ""
	}
	if got := dial(); got != "EACCES" {
		t.Errorf("directory 0700: nobody got %q, want EACCES", got)
	}
	os.Chmod(dir, 0o755)
	if got := dial(); got != "EACCES" {
		t.Errorf("socket 0600: nobody got %q, want EACCES", got)
	}
	os.Chmod(srv.Path(), 0o666)
	if got := dial(); got == "answered" || got == "EACCES" {
		t.Errorf("server: nobody got %q, want no answer", got)
	} else {
		t.Logf("socket 0666: nobody connects and gets no answer: %s", got)
	}
	// Root still gets its answer.
	if _, err := Query(context.Background(), srv.Path()); err != nil {
		t.Fatal(err)
	}
}
