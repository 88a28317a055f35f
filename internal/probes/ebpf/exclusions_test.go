package ebpf

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/otel-sensor/otel-sensor/internal/event"
)

// copyExe copies an executable to dir/name, so it has an inode of its own.
func copyExe(t *testing.T, src, dst string) string {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	out.Close()
	return dst
}

// initiator is the process that did what ev reports (for a fork, the
// parent).
func initiator(ev *event.Event) uint32 {
	if ev.Kind == event.KindFork {
		return ev.Process.ParentPID
	}
	return ev.Process.PID
}

// initiated counts the events that process pid initiated after since,
// once a marker event that always arrives later has been seen; path, when
// set, keeps only file events on that path.
func initiated(t *testing.T, c *collector, marker func(*event.Event) bool, since time.Time, pid uint32, path string) int {
	t.Helper()
	c.waitFor(t, "marker", marker)
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, ev := range c.events {
		if initiator(ev) != pid || ev.Time.Before(since) {
			continue
		}
		if path != "" && (ev.File == nil || ev.File.Path != path) {
			continue
		}
		n++
	}
	return n
}

// runMarker runs /bin/true with a marker argument and returns a matcher
// for its exec: once it is seen, everything the kernel wrote before it has
// been read.
func runMarker(t *testing.T, name string) func(*event.Event) bool {
	t.Helper()
	if err := exec.Command("/bin/true", name).Run(); err != nil {
		t.Fatal(err)
	}
	return func(ev *event.Event) bool {
		return ev.Kind == event.KindExec && len(ev.Exec.Args) == 2 && ev.Exec.Args[1] == name
	}
}

func TestExclusions(t *testing.T) { forEachReadMode(t, testExclusions) }

func testExclusions(t *testing.T, probeReads bool) {
	p, c := startProvider(t, Options{Opens: OpensAll, ProbeReads: probeReads})
	d := t.TempDir()
	touch := copyExe(t, "/usr/bin/touch", d+"/excluded-touch")
	shell := copyExe(t, "/bin/dash", d+"/excluded-sh")
	os.Mkdir(d+"/quiet", 0o755)
	os.Mkdir(d+"/loud", 0o755)
	os.Mkdir(d+"/bind", 0o755)
	os.Mkdir(d+"/gone", 0o755)
	if err := unix.Mount(d+"/quiet", d+"/bind", "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(d+"/bind", unix.MNT_DETACH) })
	touchFile(t, d+"/exact")
	touchFile(t, d+"/quiet/u")
	touchFile(t, d+"/quiet/r")
	touchFile(t, d+"/loud/u")
	// A chroot whose tree repeats the excluded directory's path: what a
	// chrooted process names by that path is another file, not excluded.
	jail := d + "/loud/jail"
	os.MkdirAll(jail+d+"/quiet", 0o755)
	touchFile(t, jail+d+"/quiet/u")

	// A process that runs the excluded shell before the exclusions exist:
	// it is found in /proc when they are set.
	// It says when it is up (its loader done) and waits for a line.
	early := exec.Command(shell, "-c", `echo up; read x; /usr/bin/touch "$1/early-child"`, "sh", d)
	stdin, _ := early.StdinPipe()
	stdout, _ := early.StdoutPipe()
	if err := early.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(stdout).ReadString('\n'); err != nil {
		t.Fatal(err)
	}

	since := time.Now()
	err := p.SetExclusions(Exclusions{
		Initiators: []Initiator{{Path: touch}, {Path: shell, Descendants: true}},
		Paths:      []string{d + "/quiet", d + "/exact", d + "/missing", d + "/gone"},
		Syscalls:   []int{unix.SYS_MKDIR},
	})
	if err == nil {
		t.Fatal("a missing path was not reported")
	}
	before := p.Excluded()

	run := func(name string, args ...string) uint32 {
		t.Helper()
		cmd := exec.Command(name, args...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v %s", name, args, err, out)
		}
		return uint32(cmd.Process.Pid)
	}
	excludedTouch := run(touch, d+"/loud/a")
	plainTouch := run("/usr/bin/touch", d+"/loud/b")
	tree := run(shell, "-c", `/usr/bin/touch "$1/loud/c"; /bin/true`, "sh", d)
	stdin.Write([]byte("go\n"))
	early.Wait()
	quietPID, _ := runFileOp(t, d, "open", d+"/quiet/x", strconv.Itoa(unix.O_CREAT|unix.O_WRONLY), "0600")
	bindPID, _ := runFileOp(t, d, "open", d+"/bind/y", strconv.Itoa(unix.O_CREAT|unix.O_WRONLY), "0600")
	exactPID, _ := runFileOp(t, d, "open", d+"/exact", strconv.Itoa(unix.O_WRONLY), "0")
	mkdirPID, _ := runFileOp(t, d, "mkdir", d+"/loud/m", "0755")
	mkdiratPID, _ := runFileOp(t, d, "mkdirat", ".", "loud/n", "0755")
	// Operations given an absolute path string are not walked: the
	// string is matched against the excluded paths.
	unlinkPID, _ := runFileOp(t, d, "unlink", d+"/quiet/u")
	renamePID, _ := runFileOp(t, d, "rename", d+"/quiet/r", d+"/loud/r")
	chmodPID, _ := runFileOp(t, d, "chmod", d+"/exact", "0600")
	rmdirPID, _ := runFileOp(t, d, "rmdir", d+"/gone")
	loudUnlinkPID, _ := runFileOp(t, d, "unlink", d+"/loud/u")
	jailPID, _ := runFileOp(t, d, "chroot="+jail, "unlink", d+"/quiet/u")
	marker := runMarker(t, "exclusions-marker")

	count := func(pid uint32, path string) int { return initiated(t, c, marker, since, pid, path) }
	if n := count(excludedTouch, ""); n != 0 {
		t.Errorf("the excluded executable: %d events reported", n)
	}
	if count(plainTouch, d+"/loud/b") != 1 {
		t.Error("the same program at another path was not reported")
	}
	earlyPID := uint32(early.Process.Pid)
	c.mu.Lock()
	for _, ev := range c.events {
		if ev.Time.After(since) && (initiator(ev) == tree || initiator(ev) == earlyPID ||
			ev.Process.ParentPID == tree || ev.Process.ParentPID == earlyPID) {
			t.Errorf("a process of an excluded tree was reported: %s %s", ev.Kind.Name(), ev.Process.ExecutablePath)
		}
	}
	c.mu.Unlock()
	for name, tc := range map[string]struct {
		pid  uint32
		path string
	}{
		"excluded directory":                       {quietPID, d + "/quiet/x"},
		"bind mount of it":                         {bindPID, d + "/bind/y"},
		"excluded file":                            {exactPID, d + "/exact"},
		"excluded syscall":                         {mkdirPID, d + "/loud/m"},
		"unlink by absolute path in the directory": {unlinkPID, d + "/quiet/u"},
		"rename out of the directory":              {renamePID, d + "/loud/r"},
		"chmod of the file by absolute path":       {chmodPID, d + "/exact"},
		"rmdir of the directory itself":            {rmdirPID, d + "/gone"},
	} {
		if n := count(tc.pid, tc.path); n != 0 {
			t.Errorf("%s: %d events reported", name, n)
		}
	}
	if count(mkdiratPID, d+"/loud/n") != 1 {
		t.Error("mkdirat, not excluded, was not reported")
	}
	if count(loudUnlinkPID, d+"/loud/u") != 1 {
		t.Error("unlink by absolute path outside the excluded directory was not reported")
	}
	if count(jailPID, jail+d+"/quiet/u") != 1 {
		t.Error("a chrooted unlink of a name that is excluded outside the chroot was not reported with its host path")
	}
	after := p.Excluded()
	if after.Path-before.Path < 7 || after.Syscall-before.Syscall < 1 || after.Initiator-before.Initiator < 4 {
		t.Errorf("excluded counts went from %+v to %+v", before, after)
	}

	// Exclusions change without a restart.
	if err := p.SetExclusions(Exclusions{}); err != nil {
		t.Fatal(err)
	}
	again := run(touch, d+"/loud/e")
	quietAgain, _ := runFileOp(t, d, "open", d+"/quiet/z", strconv.Itoa(unix.O_CREAT|unix.O_WRONLY), "0600")
	marker = runMarker(t, "exclusions-cleared")
	if count(again, d+"/loud/e") != 1 || count(quietAgain, d+"/quiet/z") != 1 {
		t.Error("events are still excluded after the exclusions were removed")
	}
}

func touchFile(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPrefixKeys(t *testing.T) {
	d := t.TempDir()
	os.Mkdir(d+"/real", 0o755)
	if err := os.Symlink(d+"/real", d+"/link"); err != nil {
		t.Fatal(err)
	}
	keyString := func(k sensorPrefixKey) string { return string(k.Data[:k.Prefixlen/8]) }
	for _, tc := range []struct {
		path string
		dir  bool
		want []string
	}{
		{"/var/log/journal", true, []string{"/var/log/journal\x00", "/var/log/journal/"}},
		{"/var/log/journal/", true, []string{"/var/log/journal\x00", "/var/log/journal/"}},
		{"/etc//shadow", false, []string{"/etc/shadow\x00"}},
		{"/", true, []string{"/\x00", "/"}},
		{d + "/link", true, []string{d + "/link\x00", d + "/link/", d + "/real\x00", d + "/real/"}},
		{"/" + strings.Repeat("x", 255), false, nil},
		{"/" + strings.Repeat("x", 254), false, []string{"/" + strings.Repeat("x", 254) + "\x00"}},
	} {
		var got []string
		for _, k := range prefixKeys(tc.path, tc.dir) {
			got = append(got, keyString(k))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("prefixKeys(%q, %v) = %q, want %q", tc.path, tc.dir, got, tc.want)
		}
	}
}
