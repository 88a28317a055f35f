package ebpf

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/otel-sensor/otel-sensor/internal/event"
	"github.com/otel-sensor/otel-sensor/internal/kerneltest"
	"github.com/otel-sensor/otel-sensor/internal/probes/policy"
)

// collector gathers the events a provider delivers.
type collector struct {
	mu     sync.Mutex
	events []*event.Event
	cond   chan struct{}
}

func newCollector() *collector { return &collector{cond: make(chan struct{}, 1)} }

func (c *collector) Handle(ev *event.Event) {
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

// forEachReadMode runs a kernel test twice: with the direct loads this
// kernel allows, and with the read calls the programs make on a kernel
// before 6.2 (Options.ProbeReads), so that both ways of reading paths are
// held to the same results.
func forEachReadMode(t *testing.T, test func(t *testing.T, probeReads bool)) {
	t.Run("direct-loads", func(t *testing.T) { test(t, false) })
	t.Run("probe-reads", func(t *testing.T) { test(t, true) })
}

func startProvider(t *testing.T, opts Options) (*Provider, *collector) {
	t.Helper()
	kerneltest.Require(t)
	if opts.WatchParent == 0 {
		opts.WatchParent = uint32(os.Getpid())
	}
	opts.IncludeSelf = true
	p := New(opts)
	c := newCollector()
	if err := p.Start(context.Background(), c); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return p, c
}

func TestExecEvent(t *testing.T) {
	_, c := startProvider(t, Options{})
	dir := t.TempDir()
	args := []string{"/bin/echo", "plain", "with space", "new\nline", "bad\xff\xfeutf8", ""}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	pid := uint32(cmd.Process.Pid)
	ev := c.waitFor(t, "process.exec", func(ev *event.Event) bool {
		return ev.Kind == event.KindExec && ev.Process.PID == pid
	})
	wantExe, _ := filepath.EvalSymlinks("/bin/echo")
	if ev.Process.ExecutablePath != wantExe {
		t.Errorf("executable = %q, want %q", ev.Process.ExecutablePath, wantExe)
	}
	if !slices.Equal(ev.Exec.Args, args) {
		t.Errorf("args = %q, want %q", ev.Exec.Args, args)
	}
	if ev.Exec.ArgsCount != len(args) {
		t.Errorf("args count = %d, want %d", ev.Exec.ArgsCount, len(args))
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
	if cr == nil || cr.UID != 0 || cr.EUID != 0 || cr.GID != 0 || cr.EGID != 0 {
		t.Errorf("credentials = %+v, want root", cr)
	}
	if ev.Process.Comm != "echo" {
		t.Errorf("comm = %q, want echo", ev.Process.Comm)
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
}

// selfCgroup is the test process's cgroup v2 path; children inherit it.
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

// assertTimes checks the kernel timestamps against the wall clock: the event
// happened within the last minute, not after it was observed, and the
// process was created no later than the event.
func assertTimes(t *testing.T, ev *event.Event) {
	t.Helper()
	now := time.Now()
	if ev.Time.After(ev.Observed) || now.Sub(ev.Time) > time.Minute {
		t.Errorf("time %s, observed %s, now %s", ev.Time, ev.Observed, now)
	}
	if ev.Process.StartTime.IsZero() || ev.Process.StartTime.After(ev.Time.Add(10*time.Millisecond)) {
		t.Errorf("start time %s, event time %s", ev.Process.StartTime, ev.Time)
	}
}

func run(t *testing.T, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	if err := cmd.Run(); err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatal(err)
		}
	}
	return cmd
}

func TestForkAndExitCode(t *testing.T) {
	_, c := startProvider(t, Options{})
	cmd := run(t, "/bin/sh", "-c", "exit 3")
	pid := uint32(cmd.Process.Pid)

	fork := c.waitFor(t, "process.fork", func(ev *event.Event) bool {
		return ev.Kind == event.KindFork && ev.Process.PID == pid
	})
	if fork.Process.ParentPID != uint32(os.Getpid()) {
		t.Errorf("fork parent = %d, want %d", fork.Process.ParentPID, os.Getpid())
	}
	self, _ := os.Executable()
	// Until it execs, the child runs its parent's image.
	if fork.Process.ExecutablePath != self || fork.Process.ParentExecutablePath != self {
		t.Errorf("fork executable %q parent executable %q, want %q", fork.Process.ExecutablePath, fork.Process.ParentExecutablePath, self)
	}
	assertTimes(t, fork)

	exit := c.waitFor(t, "process.exit", func(ev *event.Event) bool {
		return ev.Kind == event.KindExit && ev.Process.PID == pid
	})
	if exit.Exit.Code != 3 || exit.Exit.Signal != 0 || exit.Exit.CoreDumped {
		t.Errorf("exit = %+v, want code 3", *exit.Exit)
	}
	sh, _ := filepath.EvalSymlinks("/bin/sh")
	if exit.Process.ExecutablePath != sh {
		t.Errorf("exit executable = %q, want %q (from the exec)", exit.Process.ExecutablePath, sh)
	}
	if !exit.Time.After(fork.Time) || !exit.Process.StartTime.Equal(fork.Process.StartTime) {
		t.Errorf("fork at %s (start %s), exit at %s (start %s)", fork.Time, fork.Process.StartTime, exit.Time, exit.Process.StartTime)
	}
}

func TestExitBySignal(t *testing.T) {
	_, c := startProvider(t, Options{})
	cmd := run(t, "/bin/sh", "-c", "kill -TERM $$")
	pid := uint32(cmd.Process.Pid)
	exit := c.waitFor(t, "process.exit", func(ev *event.Event) bool {
		return ev.Kind == event.KindExit && ev.Process.PID == pid
	})
	if exit.Exit.Signal != int(unix.SIGTERM) || exit.Exit.Code != 0 {
		t.Errorf("exit = %+v, want signal %d", *exit.Exit, unix.SIGTERM)
	}
}

// A multi-threaded process ends once: threads are neither forks nor exits.
func TestThreadsAreNotProcesses(t *testing.T) {
	_, c := startProvider(t, Options{})
	// python3 starts threads; each thread is a clone without a new process.
	cmd := run(t, "/usr/bin/env", "python3", "-c",
		"import threading\nts=[threading.Thread(target=lambda: None) for _ in range(8)]\n[t.start() for t in ts]\n[t.join() for t in ts]")
	pid := uint32(cmd.Process.Pid)
	c.waitFor(t, "process.exit", func(ev *event.Event) bool {
		return ev.Kind == event.KindExit && ev.Process.PID == pid
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	var forks, exits int
	for _, ev := range c.events {
		if ev.Process.PID == pid || ev.Process.ParentPID == pid {
			switch ev.Kind {
			case event.KindFork:
				forks++
			case event.KindExit:
				exits++
			}
		}
	}
	if forks != 1 || exits != 1 {
		t.Errorf("forks %d exits %d for a process with 8 threads, want 1 and 1", forks, exits)
	}
}

func TestCredentialsChange(t *testing.T) {
	_, c := startProvider(t, Options{})
	cmd := run(t, "/usr/bin/setpriv", "--reuid=65534", "--regid=65533", "--clear-groups", "/bin/true")
	pid := uint32(cmd.Process.Pid)
	gidChange := c.waitFor(t, "gid change", func(ev *event.Event) bool {
		return ev.Kind == event.KindCredentialsChange && ev.Process.PID == pid && ev.Credentials.SyscallName == "setresgid"
	})
	uidChange := c.waitFor(t, "uid change", func(ev *event.Event) bool {
		return ev.Kind == event.KindCredentialsChange && ev.Process.PID == pid && ev.Credentials.SyscallName == "setresuid"
	})
	for _, tc := range []struct {
		ev       *event.Event
		id       int
		wantUIDs [2]uint32 // previous, new (all four uids)
		wantGIDs [2]uint32 // previous, new (all four gids)
	}{
		// setpriv sets the uid first (keeping CAP_SETGID), then the gid.
		{uidChange, 117, [2]uint32{0, 65534}, [2]uint32{0, 0}},
		{gidChange, 119, [2]uint32{65534, 65534}, [2]uint32{0, 65533}},
	} {
		prev, now := tc.ev.Credentials.Previous, *tc.ev.Process.Credentials
		if tc.ev.Credentials.SyscallID != tc.id {
			t.Errorf("%s: syscall id %d, want %d", tc.ev.Credentials.SyscallName, tc.ev.Credentials.SyscallID, tc.id)
		}
		for i, cr := range []event.Credentials{prev, now} {
			if cr.UID != tc.wantUIDs[i] || cr.EUID != tc.wantUIDs[i] || cr.SUID != tc.wantUIDs[i] || cr.FSUID != tc.wantUIDs[i] ||
				cr.GID != tc.wantGIDs[i] || cr.EGID != tc.wantGIDs[i] || cr.SGID != tc.wantGIDs[i] || cr.FSGID != tc.wantGIDs[i] {
				t.Errorf("%s: ids %d = %+v, want uids %d gids %d", tc.ev.Credentials.SyscallName, i, cr, tc.wantUIDs[i], tc.wantGIDs[i])
			}
		}
	}
	setpriv, _ := filepath.EvalSymlinks("/usr/bin/setpriv")
	if uidChange.Process.ExecutablePath != setpriv {
		t.Errorf("executable = %q, want %q", uidChange.Process.ExecutablePath, setpriv)
	}
	// The exec that follows runs with the new ids.
	ex := c.waitFor(t, "exec of true", func(ev *event.Event) bool {
		return ev.Kind == event.KindExec && ev.Process.PID == pid && strings.HasSuffix(ev.Process.ExecutablePath, "/true")
	})
	if ex.Process.Credentials.EUID != 65534 || ex.Process.Credentials.EGID != 65533 {
		t.Errorf("exec after change: %+v", *ex.Process.Credentials)
	}

	// set*id calls that change nothing are no events: here the first of
	// each thread, which the kernel sends (it does not know the ids before)
	// and the sensor compares with the process's ids.
	same := run(t, "/usr/bin/setpriv", "--reuid=0", "--regid=0", "--keep-groups", "/bin/true")
	samePID := uint32(same.Process.Pid)
	c.waitFor(t, "exec of true after no change", func(ev *event.Event) bool {
		return ev.Kind == event.KindExec && ev.Process.PID == samePID && strings.HasSuffix(ev.Process.ExecutablePath, "/true")
	})
	c.mu.Lock()
	seen := slices.Clone(c.events)
	c.mu.Unlock()
	for _, ev := range seen {
		if ev.Kind == event.KindCredentialsChange && ev.Process.PID == samePID {
			t.Errorf("credentials change without a change: %s, %+v -> %+v", ev.Credentials.SyscallName, ev.Credentials.Previous, *ev.Process.Credentials)
		}
	}
}

func TestExecThousandsOfArguments(t *testing.T) {
	_, c := startProvider(t, Options{})
	args := make([]string, 5000)
	for i := range args {
		args[i] = "argument-" + strconv.Itoa(i)
	}
	cmd := run(t, "/bin/true", args...)
	pid := uint32(cmd.Process.Pid)
	ev := c.waitFor(t, "process.exec", func(ev *event.Event) bool {
		return ev.Kind == event.KindExec && ev.Process.PID == pid
	})
	if ev.Exec.ArgsCount != len(args)+1 {
		t.Errorf("args count = %d, want %d", ev.Exec.ArgsCount, len(args)+1)
	}
	if !slices.Contains(ev.Truncated, event.AttrCommandArgs) {
		t.Fatalf("truncated = %v, want %s", ev.Truncated, event.AttrCommandArgs)
	}
	got := ev.Exec.Args
	if len(got) < 100 || got[0] != "/bin/true" {
		t.Fatalf("kept %d args starting %q", len(got), got[:min(len(got), 2)])
	}
	// Every argument but the last kept one is whole and in order; the last
	// is a prefix of the real one.
	all := append([]string{"/bin/true"}, args...)
	for i, a := range got[:len(got)-1] {
		if a != all[i] {
			t.Fatalf("arg %d = %q, want %q", i, a, all[i])
		}
	}
	last := got[len(got)-1]
	if !strings.HasPrefix(all[len(got)-1], last) {
		t.Fatalf("last kept arg %q is not a prefix of %q", last, all[len(got)-1])
	}
	total := 0
	for _, a := range got {
		total += len(a) + 1
	}
	if total-1 != 16384 {
		t.Errorf("kept %d bytes of argv, want 16384", total-1)
	}
}

// mkdirChain makes dir/n1/n2/... with the given names through dirfds, so
// the chain may be longer than PATH_MAX.
func mkdirChain(t *testing.T, dir string, names []string) {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if err := unix.Mkdirat(fd, n, 0o755); err != nil {
			t.Fatal(err)
		}
		next, err := unix.Openat(fd, n, unix.O_DIRECTORY|unix.O_RDONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		unix.Close(fd)
		fd = next
	}
	unix.Close(fd)
}

// The test binary doubles as a helper: with helperEnv set it changes into
// each directory argument in turn (relative chdir works past PATH_MAX where a
// shell's cd does not), copies a program there and execs it.
const helperEnv = "OTEL_SENSOR_TEST_CHDIR_EXEC"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		os.Exit(chdirExec(os.Args[1:]))
	}
	if os.Getenv(fileOpEnv) == "1" {
		os.Exit(fileOp(os.Args[1:]))
	}
	if os.Getenv(sockOpEnv) == "1" {
		os.Exit(sockOp(os.Args[1:]))
	}
	if os.Getenv(containerEnv) == "1" {
		os.Exit(inContainer(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// chdirExec: args = src exe-name dir... -- argv...
func chdirExec(args []string) int {
	src, name := args[0], args[1]
	i := slices.Index(args, "--")
	for _, d := range args[2:i] {
		if err := unix.Chdir(d); err != nil {
			os.Stderr.WriteString("chdir: " + err.Error() + "\n")
			return 2
		}
	}
	body, err := os.ReadFile(src)
	if err == nil {
		err = os.WriteFile(name, body, 0o755)
	}
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 2
	}
	err = unix.Exec("./"+name, append([]string{name}, args[i+1:]...), []string{})
	os.Stderr.WriteString("exec: " + err.Error() + "\n")
	return 2
}

func TestExecPaths(t *testing.T) {
	_, c := startProvider(t, Options{})
	trueBin, _ := filepath.EvalSymlinks("/bin/true")
	for _, tc := range []struct {
		name      string
		dirs      []string
		exe       string
		truncated bool
	}{
		{"hostile name", []string{"dir with space", "new\nline"}, "bin \xff\xfe\x01", false},
		{"100 levels deep", slices.Repeat([]string{"d"}, 100), "true", false},
		{"255-byte names", slices.Repeat([]string{strings.Repeat("n", 255)}, 12), strings.Repeat("x", 255), false},
		{"longer than PATH_MAX", slices.Repeat([]string{strings.Repeat("L", 200)}, 24), "true", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			mkdirChain(t, base, tc.dirs)
			self, _ := os.Executable()
			cmd := exec.Command(self, append(append([]string{trueBin, tc.exe, base}, tc.dirs...), "--", "marker")...)
			cmd.Env = []string{helperEnv + "=1"}
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			pid := uint32(cmd.Process.Pid)
			ev := c.waitFor(t, "process.exec", func(ev *event.Event) bool {
				return ev.Kind == event.KindExec && ev.Process.PID == pid && len(ev.Exec.Args) == 2 && ev.Exec.Args[0] == tc.exe
			})
			dir := filepath.Join(append([]string{base}, tc.dirs...)...)
			want := dir + "/" + tc.exe
			if tc.truncated {
				if !slices.Contains(ev.Truncated, event.AttrExecutablePath) || !slices.Contains(ev.Truncated, event.AttrWorkingDirectory) {
					t.Errorf("truncated = %v, want executable and cwd", ev.Truncated)
				}
				// What is reported is the true tail of the path, never an
				// absolute path that is wrong.
				for _, got := range []string{ev.Process.ExecutablePath, ev.Exec.WorkingDirectory} {
					if strings.HasPrefix(got, "/") {
						t.Errorf("cut path %q looks absolute", got[:min(40, len(got))])
					}
				}
				if !strings.HasSuffix(want, "/"+ev.Process.ExecutablePath) || !strings.HasSuffix(dir, "/"+ev.Exec.WorkingDirectory) {
					t.Errorf("cut paths are not tails of the real ones")
				}
				return
			}
			if ev.Process.ExecutablePath != want {
				t.Errorf("executable = %q, want %q", ev.Process.ExecutablePath, want)
			}
			if ev.Exec.WorkingDirectory != dir {
				t.Errorf("cwd = %q, want %q", ev.Exec.WorkingDirectory, dir)
			}
			if len(ev.Truncated) != 0 {
				t.Errorf("truncated = %v", ev.Truncated)
			}
		})
	}
}

// exit_group() with many live threads: all threads die at once on both CPUs,
// and the process still ends exactly once. A process is its pid and its start
// time: pids here wrap at 32768, and on a machine that forks fast another
// process may take one of these pids while the test runs.
//
// Both ways of finding the last thread run: the tracepoint's group_dead
// (6.16+), and signal->live read as before 6.16, where two threads can both
// see it at zero and user space drops the second exit.
func TestExitGroupWithLiveThreadsEndsOnce(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{{"group_dead", Options{}}, {"signal live", Options{NoExitGroupDead: true}}} {
		t.Run(tc.name, func(t *testing.T) { testExitGroupEndsOnce(t, tc.opts) })
	}
}

func testExitGroupEndsOnce(t *testing.T, opts Options) {
	if !opts.NoExitGroupDead && !exitHasGroupDead() {
		kerneltest.Unavailable(t, "the exit tracepoint has no group_dead (before 6.16)")
	}
	_, c := startProvider(t, opts)
	script := "import os, threading, time\n" +
		"for _ in range(16): threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n" +
		"os._exit(5)\n"
	const runs = 20
	pids := map[uint32]bool{}
	for range runs {
		cmd := run(t, "/usr/bin/env", "python3", "-c", script)
		pids[uint32(cmd.Process.Pid)] = true
	}
	// python3 is started by env: the pid execs python in place.
	started := map[uint32]time.Time{}
	for pid := range pids {
		ex := c.waitFor(t, "exec", func(ev *event.Event) bool { return ev.Kind == event.KindExec && ev.Process.PID == pid })
		if ex.Process.StartTime.IsZero() {
			t.Fatalf("pid %d: exec without a start time", pid)
		}
		started[pid] = ex.Process.StartTime
		c.waitFor(t, "exit", func(ev *event.Event) bool { return ev.Kind == event.KindExit && ev.Process.PID == pid })
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	exits := map[uint32][]*event.Event{}
	for _, ev := range c.events {
		if ev.Kind == event.KindExit && pids[ev.Process.PID] {
			if !ev.Process.StartTime.Equal(started[ev.Process.PID]) {
				t.Logf("pid %d reused: a process started %s (comm %q) ended too", ev.Process.PID,
					ev.Process.StartTime.Format(time.RFC3339Nano), ev.Process.Comm)
				continue
			}
			exits[ev.Process.PID] = append(exits[ev.Process.PID], ev)
			if ev.Exit.Code != 5 {
				t.Errorf("pid %d exit code %d, want 5", ev.Process.PID, ev.Exit.Code)
			}
		}
	}
	for pid := range pids {
		if evs := exits[pid]; len(evs) != 1 {
			t.Errorf("pid %d ended %d times:", pid, len(evs))
			for _, ev := range evs {
				t.Errorf("  at %s: started %s, parent %d, comm %q, code %d, signal %d",
					ev.Time.Format(time.RFC3339Nano), ev.Process.StartTime.Format(time.RFC3339Nano),
					ev.Process.ParentPID, ev.Process.Comm, ev.Exit.Code, ev.Exit.Signal)
			}
		}
	}
}

// A process's exit is reported once, however many records say so; another
// process with the same pid (a later start) is another exit.
func TestRecentExits(t *testing.T) {
	var x recentExits
	if x.seen(100, 5) || !x.seen(100, 5) || x.seen(100, 6) || x.seen(101, 5) {
		t.Fatal("first exits seen, or a second not")
	}
	for pid := range uint32(len(x.keys)) {
		x.seen(1000+pid, 1)
	}
	if x.seen(100, 5) {
		t.Error("an exit 64 exits ago is still remembered")
	}
}

// The loader's feature switches must see what this kernel has: a switch
// that reads false where the feature exists sends the programs down the
// older path without any error (as the CO-RE type match of the exit
// tracepoint did on 6.18).
func TestFeatureSwitchesMatchKernel(t *testing.T) {
	kerneltest.Require(t)
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	release := unix.ByteSliceToString(u.Release[:])
	for _, f := range []struct {
		name  string
		since string
		has   bool
	}{
		{"direct_loads (bpf_rdonly_cast)", "6.2", hasDirectLoads()},
		{"exit_group_dead_arg (sched_process_exit's group_dead)", "6.16", exitHasGroupDead()},
	} {
		if policy.CompareVersions(release, f.since) >= 0 && !f.has {
			t.Errorf("%s: not found on %s (since %s)", f.name, release, f.since)
		}
	}
}
