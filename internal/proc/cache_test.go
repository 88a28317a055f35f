package proc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/otel-sensor/otel-sensor/internal/event"
)

// tick is one clock tick (USER_HZ 100) in nanoseconds.
const tick = 10_000_000

// absentPID is above the largest pid_max (2^22): no process has it.
const absentPID = 1 << 23

// procStartTicks reads the start time of pid from /proc independently of
// the package's parser.
func procStartTicks(t *testing.T, pid int) uint64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndex(s, ")")+1:])
	ticks, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return ticks
}

func TestSeedRealProc(t *testing.T) {
	c := NewCache(Options{})
	if err := c.Seed(); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Lookup(1, 0); !ok {
		t.Error("pid 1 is not in the cache")
	}

	pid := os.Getpid()
	start := procStartTicks(t, pid) * tick
	e, ok := c.Lookup(uint32(pid), start)
	if !ok {
		t.Fatalf("own process %d is not in the cache", pid)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ruid, euid, suid := unix.Getresuid()
	rgid, egid, sgid := unix.Getresgid()
	fsuid, _ := unix.SetfsuidRetUid(-1) // -1 changes nothing and returns the current id
	fsgid, _ := unix.SetfsgidRetGid(-1)
	want := event.Credentials{
		UID: uint32(ruid), EUID: uint32(euid), SUID: uint32(suid), FSUID: uint32(fsuid),
		GID: uint32(rgid), EGID: uint32(egid), SGID: uint32(sgid), FSGID: uint32(fsgid),
	}
	if uint32(os.Getuid()) != want.UID || uint32(os.Geteuid()) != want.EUID || uint32(os.Getgid()) != want.GID || uint32(os.Getegid()) != want.EGID {
		t.Fatalf("getresuid/getresgid disagree with os: %+v", want)
	}

	switch {
	case e.PID != uint32(pid):
		t.Errorf("PID = %d, want %d", e.PID, pid)
	case e.ParentPID != uint32(os.Getppid()):
		t.Errorf("ParentPID = %d, want %d", e.ParentPID, os.Getppid())
	case e.StartTime != start:
		t.Errorf("StartTime = %d, want %d", e.StartTime, start)
	case e.ExecutablePath != exe:
		t.Errorf("ExecutablePath = %q, want %q", e.ExecutablePath, exe)
	case !e.HasCredentials || e.Credentials != want:
		t.Errorf("Credentials = %+v (known %t), want %+v", e.Credentials, e.HasCredentials, want)
	case e.Comm == "" || !strings.HasPrefix(filepath.Base(exe), e.Comm):
		t.Errorf("Comm = %q, executable %q", e.Comm, exe)
	}
	if b, err := os.ReadFile("/proc/self/cgroup"); err == nil {
		if want, _ := parseCgroup(b); e.CgroupPath != want {
			t.Errorf("CgroupPath = %q, want %q", e.CgroupPath, want)
		}
	}
	if b, err := os.ReadFile("/proc/self/loginuid"); err == nil {
		if want, _ := strconv.ParseUint(string(b), 10, 32); e.LoginUID != uint32(want) {
			t.Errorf("LoginUID = %d, want %d", e.LoginUID, want)
		}
	}

	// Kernel threads are processes without an executable.
	if k, ok := c.Lookup(2, 0); ok && k.Comm == "kthreadd" && k.ExecutablePath != "" {
		t.Errorf("kthreadd has executable %q", k.ExecutablePath)
	}
}

func TestLookupStartTime(t *testing.T) {
	c := NewCache(Options{})
	pid := uint32(os.Getpid())
	start := procStartTicks(t, os.Getpid()) * tick
	c.Put(Entry{PID: pid, StartTime: start, ExecutablePath: "/cached"})

	tests := []struct {
		name  string
		start uint64
		want  bool
	}{
		{"any", 0, true},
		{"exact", start, true},
		{"within the tick", start + tick - 1, true},
		{"one tick later", start + tick, true},
		{"two ticks later (pid reused)", start + 2*tick, false},
		{"much earlier (pid reused)", start / 2, false},
	}
	for _, tt := range tests {
		e, ok := c.Lookup(pid, tt.start)
		if ok != tt.want {
			t.Errorf("%s: Lookup(%d, %d) found %t, want %t", tt.name, pid, tt.start, ok, tt.want)
		}
		if ok && e.ExecutablePath != "/cached" {
			t.Errorf("%s: Lookup returned %+v, not the cached entry", tt.name, e)
		}
		if !ok && e != (Entry{}) {
			t.Errorf("%s: Lookup returned %+v with false", tt.name, e)
		}
	}
}

// startSleep starts `sleep 30` and kills it at cleanup.
func startSleep(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

func TestLookupMissReadsProc(t *testing.T) {
	cmd := startSleep(t)
	pid := uint32(cmd.Process.Pid)
	start := procStartTicks(t, cmd.Process.Pid) * tick
	exe, err := filepath.EvalSymlinks(cmd.Path)
	if err != nil {
		t.Fatal(err)
	}

	c := NewCache(Options{})
	if _, ok := c.Lookup(pid, start+5*tick); ok {
		t.Fatal("Lookup with a wrong start time found the process")
	}
	if c.Len() != 0 {
		t.Fatalf("Len = %d after a mismatching read, want 0", c.Len())
	}
	e, ok := c.Lookup(pid, start)
	if !ok {
		t.Fatal("Lookup of a live process not in the cache failed")
	}
	if e.ExecutablePath != exe || e.StartTime != start || e.ParentPID != uint32(os.Getpid()) || e.Comm != "sleep" {
		t.Errorf("Lookup = %+v, want executable %q, start %d, parent %d, comm sleep", e, exe, start, os.Getpid())
	}
	if c.Len() != 1 {
		t.Errorf("Len = %d, want 1", c.Len())
	}

	// A stale entry of an earlier process with the same pid is replaced by
	// what /proc says, and a query for the earlier process no longer finds
	// anything.
	c.Put(Entry{PID: pid, StartTime: start - 100*tick, ExecutablePath: "/earlier"})
	if e, ok := c.Lookup(pid, start); !ok || e.ExecutablePath != exe {
		t.Errorf("Lookup over a stale entry = %+v, %t", e, ok)
	}
	if e, ok := c.Lookup(pid, start-100*tick); ok {
		t.Errorf("Lookup of the earlier process = %+v", e)
	}

	// Remove ignores another process's start time.
	c.Remove(pid, start+100*tick)
	if c.Len() != 1 {
		t.Fatal("Remove with a wrong start time removed the entry")
	}
	c.Remove(pid, start)
	if c.Len() != 0 {
		t.Fatal("Remove did not remove the entry")
	}
}

func TestLookupDoesNotAllocateOnHit(t *testing.T) {
	c := NewCache(Options{})
	c.Put(Entry{PID: 42, StartTime: 7 * tick, ExecutablePath: "/bin/x", CgroupPath: "/a"})
	allocs := testing.AllocsPerRun(1000, func() {
		if _, ok := c.Lookup(42, 7*tick); !ok {
			t.Fatal("miss")
		}
	})
	if allocs != 0 {
		t.Errorf("Lookup allocates %.1f times per hit", allocs)
	}
}

// fakeProcess describes a process of a fake /proc tree.
type fakeProcess struct {
	pid, tgid, ppid uint32
	comm            string
	flags           uint32
	startTicks      uint64
	uid, gid        string // the four ids of the Uid:/Gid: lines
	exe             string // "": no exe link
	cgroup          string // "": no cgroup file
	loginuid        string // "": no loginuid file
	stat            string // replaces the generated stat line
}

// writeFake writes p under root.
func writeFake(t *testing.T, root string, p fakeProcess) {
	t.Helper()
	dir := filepath.Join(root, strconv.Itoa(int(p.pid)))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if p.tgid == 0 {
		p.tgid = p.pid
	}
	if p.uid == "" {
		p.uid = "0\t0\t0\t0"
	}
	if p.gid == "" {
		p.gid = "0\t0\t0\t0"
	}
	if p.stat == "" {
		p.stat = fmt.Sprintf("%d (%s) S %d %d %d 0 -1 %d 0 0 0 0 0 0 0 0 20 0 1 0 %d 4096 10 18446744073709551615\n",
			p.pid, p.comm, p.ppid, p.pid, p.pid, p.flags, p.startTicks)
	}
	files := map[string]string{
		"stat":   p.stat,
		"status": fmt.Sprintf("Name:\t%s\nTgid:\t%d\nPid:\t%d\nPPid:\t%d\nUid:\t%s\nGid:\t%s\n", p.comm, p.tgid, p.pid, p.ppid, p.uid, p.gid),
	}
	if p.cgroup != "" {
		files["cgroup"] = p.cgroup
	}
	if p.loginuid != "" {
		files["loginuid"] = p.loginuid
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if p.exe != "" {
		if err := os.Symlink(p.exe, filepath.Join(dir, "exe")); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSeedFakeProc(t *testing.T) {
	root := t.TempDir()
	writeFake(t, root, fakeProcess{pid: 1, comm: "systemd", startTicks: 1, exe: "/usr/lib/systemd/systemd", cgroup: "0::/init.scope\n"})
	writeFake(t, root, fakeProcess{pid: 2, comm: "kthreadd", flags: pfKthread, startTicks: 1, cgroup: "0::/\n"})
	writeFake(t, root, fakeProcess{
		pid: 100, ppid: 1, comm: "a) (b c", startTicks: 500,
		uid: "1000\t1001\t1002\t1003", gid: "100\t101\t102\t103",
		exe:      "/usr/bin/my prog (deleted)",
		cgroup:   "1:name=systemd:/x\n0::/system.slice/docker-" + id1 + ".scope\n",
		loginuid: "1000",
	})
	writeFake(t, root, fakeProcess{pid: 101, ppid: 100, comm: "v1", startTicks: 600, exe: "/bin/v1", cgroup: "1:cpu:/\n"})
	// A process that exited between the listing and the read.
	if err := os.Mkdir(filepath.Join(root, "300"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Not processes.
	for _, name := range []string{"sys", "self-ish", "12a"} {
		if err := os.Mkdir(filepath.Join(root, name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("100", filepath.Join(root, "self")); err != nil {
		t.Fatal(err)
	}

	c := NewCache(Options{ProcRoot: root})
	if err := c.Seed(); err != nil {
		t.Fatal(err)
	}
	if c.Len() != 4 {
		t.Errorf("Len = %d, want 4", c.Len())
	}
	want := map[uint32]Entry{
		1: {PID: 1, StartTime: tick, ExecutablePath: "/usr/lib/systemd/systemd", HasCredentials: true,
			LoginUID: event.NoLoginUID, CgroupPath: "/init.scope", Comm: "systemd"},
		2: {PID: 2, StartTime: tick, HasCredentials: true, LoginUID: event.NoLoginUID, CgroupPath: "/", Comm: "kthreadd"},
		100: {PID: 100, ParentPID: 1, StartTime: 500 * tick, ExecutablePath: "/usr/bin/my prog (deleted)",
			Credentials:    event.Credentials{UID: 1000, EUID: 1001, SUID: 1002, FSUID: 1003, GID: 100, EGID: 101, SGID: 102, FSGID: 103},
			HasCredentials: true, LoginUID: 1000,
			CgroupPath: "/system.slice/docker-" + id1 + ".scope", ContainerID: id1, Comm: "a) (b c"},
		101: {PID: 101, ParentPID: 100, StartTime: 600 * tick, ExecutablePath: "/bin/v1", HasCredentials: true,
			LoginUID: event.NoLoginUID, Comm: "v1"},
	}
	for pid, w := range want {
		got, ok := c.Lookup(pid, w.StartTime)
		if !ok || got != w {
			t.Errorf("Lookup(%d) = %+v, %t\nwant %+v", pid, got, ok, w)
		}
	}
	if _, ok := c.Lookup(300, 0); ok {
		t.Error("vanished process 300 found")
	}
	// Never another process's data: /proc/100 is a process started at
	// tick 500, not one started at tick 400.
	c.Remove(100, 0)
	if e, ok := c.Lookup(100, 400*tick); ok {
		t.Errorf("Lookup(100, tick 400) = %+v", e)
	}
}

func TestSeedReportsUnreadable(t *testing.T) {
	root := t.TempDir()
	writeFake(t, root, fakeProcess{pid: 10, comm: "good", startTicks: 5})
	writeFake(t, root, fakeProcess{pid: 11, stat: "11 (bad R\n"})
	writeFake(t, root, fakeProcess{pid: 12, comm: "badcg", cgroup: "0::relative\n"})
	c := NewCache(Options{ProcRoot: root})
	err := c.Seed()
	if err == nil || !strings.Contains(err.Error(), "2 processes skipped") {
		t.Errorf("Seed = %v, want 2 processes skipped", err)
	}
	if _, ok := c.Lookup(10, 5*tick); !ok || c.Len() != 1 {
		t.Errorf("Len = %d, want only the readable process", c.Len())
	}

	if err := NewCache(Options{ProcRoot: filepath.Join(root, "missing")}).Seed(); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Seed of a missing root = %v", err)
	}
}

func TestLookupThreadIsNotAProcess(t *testing.T) {
	root := t.TempDir()
	writeFake(t, root, fakeProcess{pid: 600, comm: "leader", startTicks: 9})
	writeFake(t, root, fakeProcess{pid: 601, tgid: 600, comm: "worker", startTicks: 10})
	c := NewCache(Options{ProcRoot: root})
	if e, ok := c.Lookup(601, 0); ok {
		t.Errorf("Lookup of a thread = %+v", e)
	}
	if _, ok := c.Lookup(600, 9*tick); !ok {
		t.Error("Lookup of the leader failed")
	}
}

func TestRefresh(t *testing.T) {
	root := t.TempDir()
	writeFake(t, root, fakeProcess{pid: 7, comm: "new", startTicks: 3, exe: "/bin/new"})
	c := NewCache(Options{ProcRoot: root})
	c.Put(Entry{PID: 7, StartTime: 3 * tick, ExecutablePath: "/bin/old", Comm: "old"})
	if e, ok := c.Refresh(7, 4*tick); !ok || e.ExecutablePath != "/bin/new" {
		t.Errorf("Refresh = %+v, %t", e, ok)
	}
	if e, _ := c.Lookup(7, 0); e.ExecutablePath != "/bin/new" || e.Comm != "new" {
		t.Errorf("after Refresh, Lookup = %+v", e)
	}
	if _, ok := c.Refresh(7, 50*tick); ok {
		t.Error("Refresh with another start time succeeded")
	}
}

func TestFork(t *testing.T) {
	c := NewCache(Options{ProcRoot: t.TempDir()})
	creds := event.Credentials{UID: 1000, EUID: 1000, SUID: 1000, FSUID: 1000, GID: 100, EGID: 100, SGID: 100, FSGID: 100}
	parent := Entry{
		PID: 50, ParentPID: 1, StartTime: 10 * tick, ExecutablePath: "/usr/bin/bash",
		Credentials: creds, HasCredentials: true, LoginUID: 1000,
		CgroupPath: "/docker/" + id1, Comm: "bash",
	}
	c.Put(parent)
	if e, _ := c.Lookup(50, 0); e.ContainerID != id1 {
		t.Fatalf("Put did not derive the container id: %+v", e)
	}

	got := c.Fork(50, 10*tick, Entry{PID: 51, StartTime: 20 * tick})
	want := Entry{
		PID: 51, ParentPID: 50, StartTime: 20 * tick, ExecutablePath: "/usr/bin/bash",
		Credentials: creds, HasCredentials: true, LoginUID: 1000,
		CgroupPath: "/docker/" + id1, ContainerID: id1, Comm: "bash",
	}
	if got != want {
		t.Errorf("Fork = %+v\nwant %+v", got, want)
	}
	if e, ok := c.Lookup(51, 20*tick); !ok || e != want {
		t.Errorf("Lookup of the child = %+v, %t", e, ok)
	}

	// What the child carries wins; its container follows its own cgroup.
	own := Entry{PID: 52, StartTime: 21 * tick, Comm: "worker", CgroupPath: "/docker/" + id2,
		Credentials: event.Credentials{UID: 5}, HasCredentials: true, LoginUID: 5}
	got = c.Fork(50, 0, own)
	if got.Comm != "worker" || got.ContainerID != id2 || got.Credentials.UID != 5 || got.LoginUID != 5 || got.ExecutablePath != "/usr/bin/bash" {
		t.Errorf("Fork with the child's own fields = %+v", got)
	}

	// An unknown parent (or one with another start time) gives nothing.
	got = c.Fork(50, 99*tick, Entry{PID: 53, StartTime: 30 * tick})
	if got != (Entry{PID: 53, ParentPID: 50, StartTime: 30 * tick}) {
		t.Errorf("Fork of a mismatching parent = %+v", got)
	}
	got = c.Fork(absentPID, 0, Entry{PID: 54, StartTime: 30 * tick})
	if got != (Entry{PID: 54, ParentPID: absentPID, StartTime: 30 * tick}) {
		t.Errorf("Fork of an unknown parent = %+v", got)
	}
}

func TestBoundedAbsentProcesses(t *testing.T) {
	const max = 16
	c := NewCache(Options{MaxEntries: max})
	for i := range 3 * max {
		c.Put(Entry{PID: absentPID + uint32(i), StartTime: uint64(i+1) * tick})
		if n := c.Len(); n > max {
			t.Fatalf("Len = %d after %d puts, more than %d", n, i+1, max)
		}
	}
	// The sweep removed the absent processes; the last one is there.
	if _, ok := c.Lookup(absentPID+3*max-1, 0); !ok {
		t.Error("the newest entry is missing")
	}
}

func TestBoundedLiveProcessesEvictOldest(t *testing.T) {
	const max = 16
	root := t.TempDir()
	for i := range 3 * max {
		writeFake(t, root, fakeProcess{pid: uint32(1000 + i), comm: "p", startTicks: uint64(i + 1)})
	}
	c := NewCache(Options{ProcRoot: root, MaxEntries: max})
	for i := range 3 * max {
		c.Put(Entry{PID: uint32(1000 + i), StartTime: uint64(i+1) * tick})
		if n := c.Len(); n > max {
			t.Fatalf("Len = %d after %d puts, more than %d", n, i+1, max)
		}
	}
	c.mu.RLock()
	oldest := c.order.next.PID
	c.mu.RUnlock()
	for i := range 3 * max {
		pid := uint32(1000 + i)
		c.mu.RLock()
		_, cached := c.byPID[pid]
		c.mu.RUnlock()
		if cached != (pid >= oldest) {
			t.Errorf("pid %d cached %t; the oldest cached is %d: eviction is not oldest-first", pid, cached, oldest)
		}
	}
	if oldest == 1000 {
		t.Error("nothing was evicted")
	}

	// Seed into a full cache is bounded too.
	c = NewCache(Options{ProcRoot: root, MaxEntries: max})
	if err := c.Seed(); err != nil {
		t.Fatal(err)
	}
	if n := c.Len(); n > max || n == 0 {
		t.Errorf("Len after Seed = %d, want 1..%d", n, max)
	}
}

// TestShortLivedProcesses runs many real processes through the cache as the
// providers do and shows that nothing is left once they are gone: half are
// removed on exit, the exits of the other half are "lost" and Sweep finds them.
func TestShortLivedProcesses(t *testing.T) {
	const n = 2000
	c := NewCache(Options{})
	if _, ok := c.Lookup(uint32(os.Getpid()), 0); !ok {
		t.Fatal("own process not found")
	}
	baseline := c.Len()

	for i := range n {
		cmd := exec.Command("/bin/true")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Until Wait reaps it, the process is at least a zombie in /proc.
		e, ok := c.Lookup(uint32(cmd.Process.Pid), 0)
		if err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
		if !ok {
			t.Fatalf("process %d not found", cmd.Process.Pid)
		}
		if i%2 == 0 {
			c.Remove(e.PID, e.StartTime)
		}
	}
	if got := c.Len(); got != baseline+n/2 {
		t.Errorf("Len = %d before the sweep, want %d", got, baseline+n/2)
	}
	if removed := c.Sweep(); removed != n/2 {
		t.Errorf("Sweep removed %d, want %d", removed, n/2)
	}
	if got := c.Len(); got != baseline {
		t.Errorf("Len = %d after the sweep, want the baseline %d", got, baseline)
	}
}

func TestSweepKeepsLiveAndReusedPID(t *testing.T) {
	cmd := startSleep(t)
	pid := uint32(cmd.Process.Pid)
	start := procStartTicks(t, cmd.Process.Pid) * tick

	c := NewCache(Options{})
	c.Put(Entry{PID: pid, StartTime: start})
	c.Put(Entry{PID: uint32(os.Getpid()), StartTime: (procStartTicks(t, os.Getpid()) + 50) * tick}) // reused pid
	c.Put(Entry{PID: absentPID, StartTime: tick})
	if removed := c.Sweep(); removed != 2 {
		t.Errorf("Sweep removed %d, want 2", removed)
	}
	if _, ok := c.Lookup(pid, start); !ok || c.Len() != 1 {
		t.Errorf("Len = %d; the live process must stay", c.Len())
	}
}

func TestConcurrentUse(t *testing.T) {
	c := NewCache(Options{MaxEntries: 64})
	self := uint32(os.Getpid())
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				pid := absentPID + uint32(g*1000+i%100)
				c.Put(Entry{PID: pid, StartTime: uint64(i+1) * tick})
				c.Lookup(pid, uint64(i+1)*tick)
				c.Lookup(self, 0)
				c.Fork(pid, 0, Entry{PID: pid + 500, StartTime: tick})
				c.Remove(pid, 0)
				if i%100 == 0 {
					c.Sweep()
				}
				if n := c.Len(); n > 64 {
					t.Errorf("Len = %d, more than 64", n)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkLookupHit(b *testing.B) {
	c := NewCache(Options{})
	for i := range 10000 {
		c.Put(Entry{PID: absentPID + uint32(i), StartTime: uint64(i+1) * tick, ExecutablePath: "/bin/x"})
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		n := i % 10000
		if _, ok := c.Lookup(absentPID+uint32(n), uint64(n+1)*tick); !ok {
			b.Fatal("miss")
		}
	}
}
