package netlink

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ciliumebpf "github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/otel-sensor/otel-sensor/internal/event"
	"github.com/otel-sensor/otel-sensor/internal/kerneltest"
	"github.com/otel-sensor/otel-sensor/internal/probes"
)

// collector gathers the events a provider delivers. A gate, when set, is
// called with each event before it is stored, on the provider's worker.
type collector struct {
	mu     sync.Mutex
	events []*event.Event
	cond   chan struct{}
	gate   func(*event.Event)
}

func newCollector() *collector { return &collector{cond: make(chan struct{}, 1)} }

func (c *collector) Handle(ev *event.Event) {
	if c.gate != nil {
		c.gate(ev)
	}
	c.mu.Lock()
	c.events = append(c.events, ev)
	c.mu.Unlock()
	select {
	case c.cond <- struct{}{}:
	default:
	}
}

// waitFor returns the first event matching match, failing after a deadline.
func (c *collector) waitFor(t *testing.T, what string, match func(*event.Event) bool) *event.Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		c.mu.Lock()
		for _, ev := range c.events {
			if match(ev) {
				c.mu.Unlock()
				return ev
			}
		}
		c.mu.Unlock()
		select {
		case <-c.cond:
		case <-deadline:
			t.Fatalf("no %s event within 10s", what)
			return nil
		}
	}
}

// within reports whether an event matching match arrives within d.
func (c *collector) within(d time.Duration, match func(*event.Event) bool) bool {
	timeout := time.After(d)
	for {
		if len(c.all(match)) > 0 {
			return true
		}
		select {
		case <-c.cond:
		case <-timeout:
			return false
		}
	}
}

// waitForN returns the first n events matching match, failing after a
// deadline.
func (c *collector) waitForN(t *testing.T, n int, match func(*event.Event) bool) []*event.Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if evs := c.all(match); len(evs) >= n {
			return evs[:n]
		}
		select {
		case <-c.cond:
		case <-deadline:
			t.Fatalf("fewer than %d matching events within 10s", n)
			return nil
		}
	}
}

func (c *collector) all(match func(*event.Event) bool) []*event.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*event.Event
	for _, ev := range c.events {
		if match(ev) {
			out = append(out, ev)
		}
	}
	return out
}

func is(kind event.Kind, pid int) func(*event.Event) bool {
	return func(ev *event.Event) bool { return ev.Kind == kind && ev.Process.PID == uint32(pid) }
}

func startProvider(t *testing.T, opts Options, c *collector) *Provider {
	t.Helper()
	kerneltest.Require(t)
	if opts.WatchParent == 0 {
		opts.WatchParent = uint32(os.Getpid())
	}
	opts.IncludeSelf = true
	p := New(opts)
	if err := p.Start(context.Background(), c); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return p
}

// held starts name with args and stdin on a pipe: the process lives until
// release is called, so /proc can be read while the test waits for its
// events.
func held(t *testing.T, dir, name string, args ...string) (cmd *exec.Cmd, release func() error) {
	t.Helper()
	cmd = exec.Command(name, args...)
	cmd.Dir = dir
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() error {
		var err error
		once.Do(func() {
			in.Close()
			err = cmd.Wait()
		})
		return err
	}
	t.Cleanup(func() { release() })
	return cmd, release
}

func selfCgroup(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return p
		}
	}
	t.Fatalf("no cgroup v2 line in %q", b)
	return ""
}

// assertTimes checks the converted kernel times against the wall clock.
func assertTimes(t *testing.T, ev *event.Event) {
	t.Helper()
	now := time.Now()
	if ev.Time.After(ev.Observed) || now.Sub(ev.Time) > time.Minute {
		t.Errorf("%s: time %s, observed %s, now %s", ev.Kind.Name(), ev.Time, ev.Observed, now)
	}
	// /proc start times are to the tick (10ms), truncated.
	if ev.Process.StartTime.IsZero() || ev.Process.StartTime.After(ev.Time.Add(10*time.Millisecond)) {
		t.Errorf("%s: start time %s, event time %s", ev.Kind.Name(), ev.Process.StartTime, ev.Time)
	}
}

func TestKernelFilters(t *testing.T) {
	p := startProvider(t, Options{}, newCollector())
	var u unix.Utsname
	unix.Uname(&u)
	var major, minor int
	for i, f := range strings.SplitN(unix.ByteSliceToString(u.Release[:]), ".", 3)[:2] {
		n := 0
		for _, r := range f {
			if r < '0' || r > '9' {
				break
			}
			n = n*10 + int(r-'0')
		}
		if i == 0 {
			major = n
		} else {
			minor = n
		}
	}
	if want := major > 6 || major == 6 && minor >= 6; p.Filtered() != want {
		t.Errorf("filtered = %v on %d.%d, want %v", p.Filtered(), major, minor, want)
	}
}

func TestExecEvent(t *testing.T) {
	c := newCollector()
	startProvider(t, Options{}, c)
	dir := t.TempDir()
	args := []string{"/bin/sh", "-c", "read line", "sh-name", "plain", "with space", "new\nline", "bad\xff\xfeutf8", ""}
	cmd, release := held(t, dir, args[0], args[1:]...)
	pid := cmd.Process.Pid

	ev := c.waitFor(t, "process.exec", is(event.KindExec, pid))
	release() // read fails at end of input: exit status 1
	if len(ev.Incomplete) != 0 {
		t.Errorf("incomplete = %v, want none (the process was alive)", ev.Incomplete)
	}
	wantExe, _ := filepath.EvalSymlinks("/bin/sh")
	if ev.Process.ExecutablePath != wantExe {
		t.Errorf("executable = %q, want %q", ev.Process.ExecutablePath, wantExe)
	}
	if ev.Exec == nil {
		t.Fatal("no exec fields")
	}
	if !slices.Equal(ev.Exec.Args, args) || ev.Exec.ArgsCount != len(args) {
		t.Errorf("args = %q (count %d), want %q", ev.Exec.Args, ev.Exec.ArgsCount, args)
	}
	if ev.Exec.WorkingDirectory != dir {
		t.Errorf("cwd = %q, want %q", ev.Exec.WorkingDirectory, dir)
	}
	if ev.Process.ParentPID != uint32(os.Getpid()) {
		t.Errorf("parent = %d, want %d", ev.Process.ParentPID, os.Getpid())
	}
	self, _ := os.Executable()
	if ev.Process.ParentExecutablePath != self {
		t.Errorf("parent executable = %q, want %q", ev.Process.ParentExecutablePath, self)
	}
	cr := ev.Process.Credentials
	if cr == nil || *cr != (event.Credentials{}) {
		t.Errorf("credentials = %+v, want root", cr)
	}
	if ev.Process.Comm != "sh" {
		t.Errorf("comm = %q, want sh", ev.Process.Comm)
	}
	if ev.Process.CgroupPath != selfCgroup(t) {
		t.Errorf("cgroup = %q, want %q", ev.Process.CgroupPath, selfCgroup(t))
	}
	sid, _ := unix.Getsid(0)
	if ev.Exec.SessionLeaderPID != uint32(sid) || ev.Exec.GroupLeaderPID != uint32(unix.Getpgrp()) {
		t.Errorf("session %d group %d, want %d %d", ev.Exec.SessionLeaderPID, ev.Exec.GroupLeaderPID, sid, unix.Getpgrp())
	}
	if len(ev.Truncated) != 0 {
		t.Errorf("truncated = %v, want none", ev.Truncated)
	}
	assertTimes(t, ev)

	// Fork and exec of one process carry the same creation time.
	fork := c.waitFor(t, "process.fork", is(event.KindFork, pid))
	if !fork.Process.StartTime.Equal(ev.Process.StartTime) {
		t.Errorf("creation time: fork %s, exec %s", fork.Process.StartTime, ev.Process.StartTime)
	}
}

func TestForkAndExitCode(t *testing.T) {
	c := newCollector()
	startProvider(t, Options{}, c)
	cmd := exec.Command("/bin/sh", "-c", "exit 3")
	if err := cmd.Run(); err == nil {
		t.Fatal("sh exited 0")
	}
	pid := cmd.Process.Pid

	fork := c.waitFor(t, "process.fork", is(event.KindFork, pid))
	if fork.Process.ParentPID != uint32(os.Getpid()) {
		t.Errorf("fork parent = %d, want %d", fork.Process.ParentPID, os.Getpid())
	}
	self, _ := os.Executable()
	// Until it execs, the child runs its parent's image.
	if fork.Process.ExecutablePath != self || fork.Process.ParentExecutablePath != self {
		t.Errorf("fork executable %q parent executable %q, want %q", fork.Process.ExecutablePath, fork.Process.ParentExecutablePath, self)
	}
	if cr := fork.Process.Credentials; cr == nil || cr.EUID != 0 {
		t.Errorf("fork credentials = %+v, want root's, inherited", cr)
	}
	assertTimes(t, fork)

	exit := c.waitFor(t, "process.exit", is(event.KindExit, pid))
	if exit.Exit.Code != 3 || exit.Exit.Signal != 0 || exit.Exit.CoreDumped {
		t.Errorf("exit = %+v, want code 3", *exit.Exit)
	}
	if exit.Process.ParentPID != uint32(os.Getpid()) {
		t.Errorf("exit parent = %d, want %d", exit.Process.ParentPID, os.Getpid())
	}
	if !exit.Time.After(fork.Time) || !exit.Process.StartTime.Equal(fork.Process.StartTime) {
		t.Errorf("fork at %s (start %s), exit at %s (start %s)", fork.Time, fork.Process.StartTime, exit.Time, exit.Process.StartTime)
	}
	// The exit names what ran: the exec's program when it was read in
	// time, else nothing, and says so; never the parent's image.
	sh, _ := filepath.EvalSymlinks("/bin/sh")
	switch exit.Process.ExecutablePath {
	case sh:
	case "":
		if !slices.Contains(exit.Incomplete, event.AttrExecutablePath) {
			t.Errorf("exit without executable, incomplete = %v", exit.Incomplete)
		}
	default:
		t.Errorf("exit executable = %q, want %q or unknown", exit.Process.ExecutablePath, sh)
	}
}

func TestExitBySignal(t *testing.T) {
	c := newCollector()
	startProvider(t, Options{}, c)
	cmd := exec.Command("/bin/sh", "-c", "kill -TERM $$")
	cmd.Run()
	exit := c.waitFor(t, "process.exit", is(event.KindExit, cmd.Process.Pid))
	if exit.Exit.Signal != int(unix.SIGTERM) || exit.Exit.Code != 0 || exit.Exit.CoreDumped {
		t.Errorf("exit = %+v, want signal %d", *exit.Exit, unix.SIGTERM)
	}
}

// A multi-threaded process forks and ends once: threads are not processes.
func TestThreadsAreNotProcesses(t *testing.T) {
	c := newCollector()
	startProvider(t, Options{}, c)
	cmd := exec.Command("/usr/bin/env", "python3", "-c",
		"import threading\nts=[threading.Thread(target=lambda: None) for _ in range(8)]\n[t.start() for t in ts]\n[t.join() for t in ts]")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	c.waitFor(t, "process.exit", is(event.KindExit, pid))
	forks := c.all(func(ev *event.Event) bool { return ev.Kind == event.KindFork && ev.Process.PID == uint32(pid) })
	exits := c.all(is(event.KindExit, pid))
	if len(forks) != 1 || len(exits) != 1 {
		t.Errorf("forks %d exits %d for a process with 8 threads, want 1 and 1", len(forks), len(exits))
	}
}

func TestCredentialsChange(t *testing.T) {
	c := newCollector()
	startProvider(t, Options{}, c)
	// setpriv changes the uid (keeping CAP_SETGID), then the gid, then
	// execs cat, which waits on stdin.
	cmd, release := held(t, "/", "/usr/bin/setpriv", "--reuid=65534", "--regid=65533", "--clear-groups", "/bin/cat")
	pid := cmd.Process.Pid
	uidChange := c.waitFor(t, "uid change", func(ev *event.Event) bool {
		return is(event.KindCredentialsChange, pid)(ev) && ev.Process.Credentials != nil && ev.Process.Credentials.UID == 65534 && ev.Process.Credentials.GID == 0
	})
	gidChange := c.waitFor(t, "gid change", func(ev *event.Event) bool {
		return is(event.KindCredentialsChange, pid)(ev) && ev.Process.Credentials != nil && ev.Process.Credentials.GID == 65533
	})
	ex := c.waitFor(t, "exec of cat", func(ev *event.Event) bool {
		return is(event.KindExec, pid)(ev) && strings.HasSuffix(ev.Process.ExecutablePath, "/cat")
	})
	if err := release(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ev       *event.Event
		wantUIDs [2]uint32 // previous, new (all four uids)
		wantGIDs [2]uint32 // previous, new (all four gids)
	}{
		{uidChange, [2]uint32{0, 65534}, [2]uint32{0, 0}},
		{gidChange, [2]uint32{65534, 65534}, [2]uint32{0, 65533}},
	} {
		if tc.ev.Credentials == nil {
			t.Errorf("%v: previous ids unknown (incomplete %v)", tc.wantUIDs, tc.ev.Incomplete)
			continue
		}
		if tc.ev.Credentials.SyscallID != 0 || tc.ev.Credentials.SyscallName != "" {
			t.Errorf("syscall %d %q: the proc connector does not say", tc.ev.Credentials.SyscallID, tc.ev.Credentials.SyscallName)
		}
		for i, cr := range []event.Credentials{tc.ev.Credentials.Previous, *tc.ev.Process.Credentials} {
			if cr.UID != tc.wantUIDs[i] || cr.EUID != tc.wantUIDs[i] || cr.SUID != tc.wantUIDs[i] || cr.FSUID != tc.wantUIDs[i] ||
				cr.GID != tc.wantGIDs[i] || cr.EGID != tc.wantGIDs[i] || cr.SGID != tc.wantGIDs[i] || cr.FSGID != tc.wantGIDs[i] {
				t.Errorf("ids %d = %+v, want uids %d gids %d", i, cr, tc.wantUIDs[i], tc.wantGIDs[i])
			}
		}
		for _, name := range tc.ev.Incomplete {
			if name != event.AttrExecutablePath && name != attrComm {
				t.Errorf("incomplete = %v, want the ids known", tc.ev.Incomplete)
			}
		}
	}
	// setpriv may have exec'd cat before its exec was read: its program
	// is then unknown, never cat.
	setpriv, _ := filepath.EvalSymlinks("/usr/bin/setpriv")
	for _, ev := range []*event.Event{uidChange, gidChange} {
		if exe := ev.Process.ExecutablePath; exe != setpriv && (exe != "" || !slices.Contains(ev.Incomplete, event.AttrExecutablePath)) {
			t.Errorf("executable = %q (incomplete %v), want %q or unknown", exe, ev.Incomplete, setpriv)
		}
	}
	if t.Failed() {
		for _, ev := range c.all(func(ev *event.Event) bool { return ev.Process.PID == uint32(pid) }) {
			t.Logf("%s exe %q creds %+v prev %+v incomplete %v", ev.Kind.Name(), ev.Process.ExecutablePath, ev.Process.Credentials, ev.Credentials, ev.Incomplete)
		}
	}
	if cr := ex.Process.Credentials; cr == nil || cr.EUID != 65534 || cr.EGID != 65533 {
		t.Errorf("exec after change: %+v", cr)
	}
}

// An exec whose process is gone before /proc is read still goes out, with
// what is known, and says what is missing; it never carries the image the
// process had before (the parent's, inherited at fork).
func TestExecOfVanishedProcess(t *testing.T) {
	c := newCollector()
	var hold atomic.Bool
	release := make(chan struct{})
	// Hold the worker at the first event after hold is set: the fork of
	// the process below. Its exec waits in the queue until the process
	// has exited and been reaped.
	c.gate = func(ev *event.Event) {
		if hold.CompareAndSwap(true, false) {
			<-release
		}
	}
	startProvider(t, Options{}, c)

	hold.Store(true)
	cmd := exec.Command("/bin/true", "marker-arg")
	err := cmd.Run()
	close(release)
	if err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	ev := c.waitFor(t, "process.exec", is(event.KindExec, pid))
	if ev.Process.ExecutablePath != "" || ev.Exec != nil {
		t.Errorf("vanished exec has executable %q exec %+v", ev.Process.ExecutablePath, ev.Exec)
	}
	for _, name := range []string{event.AttrExecutablePath, event.AttrCommandArgs, "process.args_count",
		event.AttrWorkingDirectory, "process.interactive"} {
		if !slices.Contains(ev.Incomplete, name) {
			t.Errorf("incomplete = %v, want %s", ev.Incomplete, name)
		}
	}
	// Known from the fork: the parent, the creation time, the cgroup, and
	// the credentials (/bin/true is not set-user-id).
	if ev.Process.StartTime.IsZero() || ev.Process.ParentPID != uint32(os.Getpid()) || ev.Process.CgroupPath != selfCgroup(t) {
		t.Errorf("start %s parent %d cgroup %q: known from the fork, want kept", ev.Process.StartTime, ev.Process.ParentPID, ev.Process.CgroupPath)
	}
	if cr := ev.Process.Credentials; cr == nil || *cr != (event.Credentials{}) {
		t.Errorf("credentials = %+v, want root's from the fork", cr)
	}
	exit := c.waitFor(t, "process.exit", is(event.KindExit, pid))
	if exit.Process.ExecutablePath != "" || !slices.Contains(exit.Incomplete, event.AttrExecutablePath) {
		t.Errorf("exit executable %q incomplete %v: want unknown, not the parent's", exit.Process.ExecutablePath, exit.Incomplete)
	}
	if exit.Exit.Code != 0 {
		t.Errorf("exit code %d", exit.Exit.Code)
	}
}

// Messages the kernel could not queue to a full socket are counted: the
// socket's own drop counter, seen as ENOBUFS.
func TestOverrunIsCounted(t *testing.T) {
	c := newCollector()
	var hold atomic.Bool
	release := make(chan struct{})
	c.gate = func(ev *event.Event) {
		if hold.CompareAndSwap(true, false) {
			<-release
		}
	}
	// The smallest socket buffer and queue: a stalled worker makes the
	// kernel drop.
	p := startProvider(t, Options{ReadBufferBytes: 1, QueueLength: 1}, c)
	hold.Store(true)
	cmd := exec.Command("/bin/sh", "-c", "i=0; while [ $i -lt 300 ]; do /bin/true; i=$((i+1)); done")
	err := cmd.Run()
	close(release)
	if err != nil {
		t.Fatal(err)
	}
	// Its own events may be among those lost, and so may the next ones
	// while the worker catches up: wait until a process is seen whole.
	deadline := time.Now().Add(10 * time.Second)
	for {
		after := exec.Command("/bin/true")
		if err := after.Run(); err != nil {
			t.Fatal(err)
		}
		if c.within(time.Second, is(event.KindExit, after.Process.Pid)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no process seen whole within 10s after the overrun")
		}
	}
	d := p.Drops()
	if len(d) == 0 || d[0].Stage != "kernel" || d[0].Reason != "netlink_overrun" || d[0].Count == 0 {
		t.Fatalf("drops = %+v, want kernel netlink_overrun counted", d)
	}
	if p.enobufs.Load() == 0 {
		t.Error("no ENOBUFS seen")
	}
	// The kernel reports ENOBUFS once per overrun, however many messages
	// it lost: the count is the socket's drop counter.
	if d[0].Count <= p.enobufs.Load() {
		t.Errorf("overrun %d, not more than the %d ENOBUFS errors", d[0].Count, p.enobufs.Load())
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if final := p.Drops(); final[0].Count < d[0].Count {
		t.Errorf("drops after close %+v fell below %+v", final, d)
	}
}

// failingProvider is an eBPF provider on a kernel that cannot run it.
type failingProvider struct{ err error }

func (f failingProvider) Name() string                                { return "ebpf" }
func (f failingProvider) Start(context.Context, probes.Handler) error { return f.err }
func (f failingProvider) Drops() []probes.Drop                        { return nil }
func (f failingProvider) Syscalls() []probes.SyscallCount             { return nil }
func (f failingProvider) Close() error                                { return nil }

// auto falls back to the real netlink provider when eBPF is not supported,
// records why, and delivers events.
func TestAutoFallsBackToNetlink(t *testing.T) {
	kerneltest.Require(t)
	c := newCollector()
	cause := fmt.Errorf("load eBPF programs: %w", ciliumebpf.ErrNotSupported)
	p, reason, err := probes.Select(context.Background(), probes.ModeAuto, c, probes.Constructors{
		EBPF:    func() probes.Provider { return failingProvider{cause} },
		Netlink: func() probes.Provider { return New(Options{IncludeSelf: true, WatchParent: uint32(os.Getpid())}) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if p.Name() != "netlink" || !strings.Contains(reason, cause.Error()) {
		t.Fatalf("selected %s (%q), want netlink with the eBPF error as the reason", p.Name(), reason)
	}
	cmd := exec.Command("/bin/true", "after-fallback")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	c.waitFor(t, "process.exit", is(event.KindExit, cmd.Process.Pid))
}

// TestExecInOtherMountNamespace: a process in a mount namespace of its own
// (as in a container) runs a program from a file system only it has and
// works in a bind mount of a host directory. Its executable is its own
// view, marked (the host cannot see that file), and its working directory
// the host's, with its own view beside it: readlink of /proc gives the
// process's view, which is not a host path.
func TestExecInOtherMountNamespace(t *testing.T) {
	c := newCollector()
	startProvider(t, Options{}, c)
	dir, _ := filepath.EvalSymlinks(t.TempDir())
	for _, d := range []string{"src", "ns", "view"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("/usr/bin/unshare", "-m", "--propagation", "private", "/bin/sh", "-c",
		`mount -t tmpfs none "$1/ns" && cp /bin/sleep "$1/ns/sleep" && mount --bind "$1/src" "$1/view" && cd "$1/view" && exec "$1/ns/sleep" 5`,
		"sh", dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	pid := cmd.Process.Pid
	ev := c.waitFor(t, "process.exec of sleep", func(ev *event.Event) bool {
		return ev.Kind == event.KindExec && int(ev.Process.PID) == pid && strings.HasSuffix(ev.Process.ExecutablePath, "/sleep")
	})
	if ev.Process.ExecutablePath != dir+"/ns/sleep" || !slices.Contains(ev.HostPathUnknown, event.AttrExecutablePath) {
		t.Errorf("executable %q, host path unknown %v: want %q, marked", ev.Process.ExecutablePath, ev.HostPathUnknown, dir+"/ns/sleep")
	}
	if ev.Exec == nil || ev.Exec.WorkingDirectory != dir+"/src" || ev.ProcessView[event.AttrWorkingDirectory] != dir+"/view" {
		t.Errorf("working directory %+v, process view %v: want %q, seen as %q", ev.Exec, ev.ProcessView, dir+"/src", dir+"/view")
	}
	if slices.Contains(ev.HostPathUnknown, event.AttrWorkingDirectory) {
		t.Errorf("working directory marked unknown: %v", ev.HostPathUnknown)
	}
}
