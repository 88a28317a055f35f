package ebpf

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/otel-sensor/otel-sensor/internal/event"
)

func waitExec(t *testing.T, c *collector, marker string) *event.Event {
	t.Helper()
	return c.waitFor(t, "exec of "+marker, func(ev *event.Event) bool {
		return ev.Kind == event.KindExec && len(ev.Exec.Args) == 2 && ev.Exec.Args[1] == marker
	})
}

// cgroup2Mount returns where the cgroup v2 hierarchy is mounted, mounting it
// in a temporary directory when it is not.
func cgroup2Mount(t *testing.T) string {
	t.Helper()
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 2 && fields[2] == "cgroup2" {
			return fields[1]
		}
	}
	dir := t.TempDir()
	if err := unix.Mount("none", dir, "cgroup2", 0, ""); err != nil {
		t.Fatalf("mount cgroup2: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

// A process in a container runtime's cgroup carries the cgroup path and the
// container id taken from it.
func TestExecInContainerCgroup(t *testing.T) {
	_, c := startProvider(t, Options{})
	root := cgroup2Mount(t)
	id := strings.Repeat("0123456789abcdef", 4)
	parent := fmt.Sprintf("otel-sensor-test-%d", os.Getpid())
	rel := "/" + parent + "/docker-" + id + ".scope"
	dir := filepath.Join(root, rel)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.Remove(dir)
		os.Remove(filepath.Join(root, parent))
	})
	cmd := exec.Command("/bin/sh", "-c", `echo $$ > "$1/cgroup.procs" && exec /bin/true cgroup-marker`, "sh", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	ev := waitExec(t, c, "cgroup-marker")
	if ev.Process.CgroupPath != rel {
		t.Errorf("cgroup = %q, want %q", ev.Process.CgroupPath, rel)
	}
	if ev.Process.ContainerID != id {
		t.Errorf("container id = %q, want %q", ev.Process.ContainerID, id)
	}
	// The exit is attributed to the same container from the cache.
	exit := c.waitFor(t, "exit", func(e *event.Event) bool {
		return e.Kind == event.KindExit && e.Process.PID == ev.Process.PID
	})
	if exit.Process.ContainerID != id {
		t.Errorf("exit container id = %q, want %q", exit.Process.ContainerID, id)
	}
}

// A process with a controlling terminal is interactive and names its tty.
func TestExecOnTerminal(t *testing.T) {
	_, c := startProvider(t, Options{})
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	pts, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pts.Close()
	cmd := exec.Command("/bin/true", "tty-marker")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pts, pts, pts
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	ev := waitExec(t, c, "tty-marker")
	if !ev.Exec.Interactive || ev.Exec.TTY != fmt.Sprintf("pts/%d", n) {
		t.Errorf("interactive %v tty %q, want pts/%d", ev.Exec.Interactive, ev.Exec.TTY, n)
	}
	pid := uint32(cmd.Process.Pid)
	if ev.Exec.SessionLeaderPID != pid || ev.Exec.GroupLeaderPID != pid {
		t.Errorf("session %d group %d, want the new session leader %d", ev.Exec.SessionLeaderPID, ev.Exec.GroupLeaderPID, pid)
	}

	// Without a terminal: not interactive, no tty.
	cmd = exec.Command("/bin/true", "no-tty-marker")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	ev = waitExec(t, c, "no-tty-marker")
	if ev.Exec.Interactive || ev.Exec.TTY != "" {
		t.Errorf("interactive %v tty %q without a terminal", ev.Exec.Interactive, ev.Exec.TTY)
	}
}

func TestExecLoginUID(t *testing.T) {
	_, c := startProvider(t, Options{})
	cmd := exec.Command("/bin/sh", "-c", `echo 4321 > /proc/self/loginuid && exec /bin/true loginuid-marker`)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if ev := waitExec(t, c, "loginuid-marker"); ev.Process.LoginUID != 4321 {
		t.Errorf("login uid = %d, want 4321", ev.Process.LoginUID)
	}
}

// Exited processes leave the cache: many short processes do not grow it.
func TestCacheDoesNotGrowWithShortProcesses(t *testing.T) {
	p, c := startProvider(t, Options{})
	before := p.cache.Len()
	var last *exec.Cmd
	for range 500 {
		last = exec.Command("/bin/true")
		if err := last.Run(); err != nil {
			t.Fatal(err)
		}
	}
	pid := uint32(last.Process.Pid)
	c.waitFor(t, "exit of the last process", func(ev *event.Event) bool {
		return ev.Kind == event.KindExit && ev.Process.PID == pid
	})
	if after := p.cache.Len(); after > before+10 {
		t.Fatalf("cache grew from %d to %d entries over 500 short processes", before, after)
	}
}
