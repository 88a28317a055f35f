package ebpf

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/otel-sensor/otel-sensor/internal/event"
	"github.com/otel-sensor/otel-sensor/internal/kerneltest"
)

// TestFilePathsInContainer runs file operations and an exec in containers
// made as runtimes make them (a mount namespace of their own, pivot_root
// into the root), and checks that every path is the host's, with the
// container's view beside it, or, where the host cannot see the file or
// the name the process passed may lead elsewhere from the host, the
// container's view, marked. The container stays alive until its file
// events are seen: an absolute name of several components is checked
// against its root then (checkUnderRoot).
//
// Two roots: a bind mount of a host directory, and an overlay the host
// mounted (as containerd and CRI-O do). In both, /data is a bind mount of
// another host directory and /private a tmpfs only the container has.
func TestFilePathsInContainer(t *testing.T) { forEachReadMode(t, testFilePathsInContainer) }

func testFilePathsInContainer(t *testing.T, probeReads bool) {
	_, c := startProvider(t, Options{ProbeReads: probeReads})
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"bind mount", "overlay"} {
		t.Run(kind, func(t *testing.T) {
			root, data, mounts := containerRoot(t, kind)
			creat := strconv.Itoa(unix.O_CREAT | unix.O_WRONLY)
			args := []string{root}
			args = append(args, mounts...)
			for _, op := range [][]string{
				{"open", "/etc/abs", creat, "0644"},
				{"cd=/etc", "openat", ".", "rel", creat, "0644"},
				{"rename", "rel", "rel2"},
				{"rename", "/top", "/top2"},
				{"unlink", "rel2"},
				{"unlink", "/etc/abs"},
				{"open", "/private/gone", creat, "0644"},
				{"unlink", "/private/gone"},
				{"symlink", "/data", "/lnk"},
				{"open", "/lnk/s", creat, "0644"},
				{"unlink", "/lnk/s"},
				{"chmod", "chm", "0600"},
				{"fchmod", "/etc/chm", "0640"},
				{"mkdir", "d", "0755"},
				{"open", "/private/f", creat, "0644"},
				{"open", "/data/f", creat, "0644"},
				// Names of several components relative to the
				// working directory (/etc, then /).
				{"mkdir", "sub", "0755"},
				{"open", "sub/y", creat, "0644"},
				{"unlink", "sub/y"},
				{"cd=/", "open", "private/gone2", creat, "0644"},
				{"unlink", "private/gone2"},
				{"cd=/etc", "open", "/etc/chm", "0", "0"}, // back to /etc, for the exec; a read: no event
				{"hold"},
				{"exec", "/bin/helper", "open", "/etc/fromexec", creat, "0644"},
			} {
				args = append(args, "--")
				args = append(args, op...)
			}
			cmd := exec.Command(self, args...)
			cmd.Env = []string{containerEnv + "=1"}
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			hold, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			released := false
			release := func() {
				if !released {
					released = true
					hold.Write([]byte("go\n"))
					if err := cmd.Wait(); err != nil {
						t.Fatalf("container: %v\n%s", err, out.Bytes())
					}
				}
			}
			defer release()
			pid := uint32(cmd.Process.Pid)

			// The file system is the container's own, as the host
			// sees it: the root, and /data where the host has it.
			for _, tc := range []struct {
				kind     event.Kind
				view     string // the container's view of file.path
				path     string // file.path; "" if the container's view, marked
				previous string // sensor.file.previous_path (rename)
			}{
				{event.KindFileOpen, "/etc/abs", root + "/etc/abs", ""},
				{event.KindFileOpen, "/etc/rel", root + "/etc/rel", ""},
				{event.KindFileRename, "/etc/rel2", root + "/etc/rel2", root + "/etc/rel"},
				{event.KindFileRename, "/top2", root + "/top2", root + "/top"},
				{event.KindFileDelete, "/etc/rel2", root + "/etc/rel2", ""},
				{event.KindFileDelete, "/etc/abs", root + "/etc/abs", ""},     // an absolute path deeper than the root, checked
				{event.KindFileDelete, "/private/gone", "", ""},               // on a mount only the container has
				{event.KindFileOpen, "/data/s", data + "/s", ""},              // the open file itself, through the link
				{event.KindFileDelete, "/lnk/s", "", ""},                      // through a symbolic link
				{event.KindFileDelete, "/etc/sub/y", root + "/etc/sub/y", ""}, // relative to the working directory, checked
				{event.KindFileDelete, "/private/gone2", "", ""},              // relative, on a mount only the container has
				{event.KindFileChmod, "/etc/chm", "", ""},                     // chmod follows its name
				{event.KindFileChmod, "/etc/chm", root + "/etc/chm", ""},      // fchmod: the file itself
				{event.KindFileMkdir, "/etc/d", root + "/etc/d", ""},
				{event.KindFileOpen, "/private/f", "", ""},
				{event.KindFileOpen, "/data/f", data + "/f", ""},
			} {
				ev := c.waitFor(t, tc.kind.Name()+" "+tc.view, func(ev *event.Event) bool {
					return ev.Kind == tc.kind && ev.Process.PID == pid && viewOf(ev, event.AttrFilePath) == tc.view &&
						(tc.path == "") == slices.Contains(ev.HostPathUnknown, event.AttrFilePath)
				})
				if tc.path == "" {
					want(t, tc.kind.Name()+" path, the container's view", ev.File.Path, tc.view)
					if _, ok := ev.ProcessView[event.AttrFilePath]; ok {
						t.Errorf("%s %s: a process view beside the process's view", tc.kind.Name(), tc.view)
					}
					continue
				}
				want(t, tc.kind.Name()+" path", ev.File.Path, tc.path)
				want(t, tc.kind.Name()+" container's view", ev.ProcessView[event.AttrFilePath], tc.view)
				if tc.previous != "" {
					want(t, "previous path", ev.File.PreviousPath, tc.previous)
				}
			}
			release()
			// The host's paths are real: what was left in place is there.
			for _, p := range []string{root + "/etc/chm", root + "/etc/d", root + "/top2", data + "/f", root + "/etc/fromexec"} {
				if _, err := os.Lstat(p); err != nil {
					t.Errorf("the host path %s does not exist: %v", p, err)
				}
			}
			if _, err := os.Stat(root + "/private/f"); err == nil {
				t.Error("the container's tmpfs is visible on the host: the test proves nothing")
			}

			// The exec in the container: its executable and working
			// directory, and the executable of its events.
			ex := c.waitFor(t, "process.exec in the container", func(ev *event.Event) bool {
				return ev.Kind == event.KindExec && ev.Process.PID == pid && ev.Process.ExecutablePath != self
			})
			want(t, "executable", ex.Process.ExecutablePath, root+"/bin/helper")
			want(t, "executable, container's view", ex.ProcessView[event.AttrExecutablePath], "/bin/helper")
			want(t, "working directory", ex.Exec.WorkingDirectory, root+"/etc")
			want(t, "working directory, container's view", ex.ProcessView[event.AttrWorkingDirectory], "/etc")
			if len(ex.HostPathUnknown) != 0 {
				t.Errorf("exec: host path unknown for %v", ex.HostPathUnknown)
			}
			op := c.waitFor(t, "file.open after the exec", func(ev *event.Event) bool {
				return ev.Kind == event.KindFileOpen && ev.Process.PID == pid && ev.File.Path == root+"/etc/fromexec"
			})
			want(t, "initiator", op.Process.ExecutablePath, root+"/bin/helper")
			want(t, "initiator, container's view", op.ProcessView[event.AttrExecutablePath], "/bin/helper")
			want(t, "opened file, container's view", op.ProcessView[event.AttrFilePath], "/etc/fromexec")
		})
	}
}

// containerRoot makes a container's root, seen by the host at root: a
// directory, or an overlay the host mounted. It holds /etc/chm, /top and
// the test binary as /bin/helper; mounts (for inContainer) add the host's
// libraries, data (a host directory) at /data and a tmpfs at /private.
func containerRoot(t *testing.T, kind string) (root, data string, mounts []string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tmp, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// files is where the root's content is written.
	files, root := tmp+"/root", tmp+"/root"
	if kind == "overlay" {
		files, root = tmp+"/lower", tmp+"/merged"
		for _, d := range []string{files, tmp + "/upper", tmp + "/work", root} {
			mkdir(t, d)
		}
	}
	data = tmp + "/data"
	mkdir(t, data)
	for _, d := range []string{"etc", "bin", "private", "data"} {
		mkdir(t, files+"/"+d)
	}
	touch(t, files+"/top")
	touch(t, files+"/etc/chm")
	copyFile(t, self, files+"/bin/helper")
	mounts = libraryMounts(t, files)
	if kind == "overlay" {
		opts := "lowerdir=" + files + ",upperdir=" + tmp + "/upper,workdir=" + tmp + "/work"
		if err := unix.Mount("overlay", root, "overlay", 0, opts); err != nil {
			t.Fatalf("mount overlay: %v", err)
		}
		t.Cleanup(func() { unix.Unmount(root, unix.MNT_DETACH) })
	}
	return root, data, append(mounts, "bind:"+data+":/data", "tmpfs:/private")
}

// A process that was running in a container before the sensor started is
// known from /proc: its executable is the host's view too.
func TestContainerProcessStartedBefore(t *testing.T) {
	kerneltest.Require(t)
	root, _, mounts := containerRoot(t, "overlay")
	self, _ := os.Executable()
	args := append([]string{root}, mounts...)
	args = append(args, "--", "exec", "/bin/helper", "wait", "cd=/etc", "open", "later", strconv.Itoa(unix.O_CREAT|unix.O_WRONLY), "0644")
	cmd := exec.Command(self, args...)
	cmd.Env = []string{containerEnv + "=1"}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := make([]byte, 6)
	if _, err := io.ReadFull(stdout, ready); err != nil || string(ready) != "ready\n" {
		t.Fatalf("helper not ready: %q, %v", ready, err)
	}

	_, c := startProvider(t, Options{})
	if _, err := stdin.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	ev := c.waitFor(t, "file.open", func(ev *event.Event) bool {
		return ev.Kind == event.KindFileOpen && ev.Process.PID == uint32(cmd.Process.Pid)
	})
	want(t, "path", ev.File.Path, root+"/etc/later")
	want(t, "initiator", ev.Process.ExecutablePath, root+"/bin/helper")
	want(t, "initiator, container's view", ev.ProcessView[event.AttrExecutablePath], "/bin/helper")
	if len(ev.HostPathUnknown) != 0 {
		t.Errorf("host path unknown: %v", ev.HostPathUnknown)
	}
}

// viewOf is the container's view of attr: beside it, or in it.
func viewOf(ev *event.Event, attr string) string {
	if v, ok := ev.ProcessView[attr]; ok {
		return v
	}
	if attr == event.AttrFilePath && ev.File != nil {
		return ev.File.Path
	}
	return ""
}

// libraryMounts makes the host's shared libraries available in a
// container root, for the test binary (linked dynamically) to run there:
// /usr bind-mounted, /lib and /lib64 as the host has them (links into /usr
// on merged-usr systems, else bind-mounted too).
func libraryMounts(t *testing.T, files string) []string {
	t.Helper()
	mounts := []string{"bind:/usr:/usr"}
	for _, d := range []string{"/lib", "/lib64"} {
		fi, err := os.Lstat(d)
		switch {
		case err != nil:
		case fi.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(d)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, files+d); err != nil {
				t.Fatal(err)
			}
		default:
			mounts = append(mounts, "bind:"+d+":"+d)
		}
	}
	return mounts
}

func mkdir(t *testing.T, d string) {
	t.Helper()
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
