package ebpf

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/otel-sensor/otel-sensor/internal/event"
)

// runFileOp runs one file syscall in a child (see fileOp) with cwd dir and
// returns the child's pid and the errno it got.
func runFileOp(t *testing.T, dir string, args ...string) (uint32, int) {
	t.Helper()
	self, _ := os.Executable()
	cmd := exec.Command(self, args...)
	cmd.Dir = dir
	cmd.Env = []string{fileOpEnv + "=1"}
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() >= 100 {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		code = ee.ExitCode()
	}
	return uint32(cmd.Process.Pid), code
}

func waitFile(t *testing.T, c *collector, kind event.Kind, pid uint32) *event.Event {
	t.Helper()
	return c.waitFor(t, kind.Name(), func(ev *event.Event) bool {
		return ev.Kind == kind && ev.Process.PID == pid
	})
}

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFileEvents(t *testing.T) { forEachReadMode(t, testFileEvents) }

func testFileEvents(t *testing.T, probeReads bool) {
	_, c := startProvider(t, Options{Opens: OpensWrites, ProbeReads: probeReads})
	self, _ := os.Executable()
	for _, tc := range []struct {
		name  string
		setup func(d string)
		args  func(d string) []string // run with cwd d
		kind  event.Kind
		check func(t *testing.T, d string, f *event.File)
	}{
		{"open creates", nil,
			func(d string) []string {
				return []string{"open", d + "/new", strconv.Itoa(unix.O_CREAT | unix.O_WRONLY), "0640"}
			},
			event.KindFileOpen, func(t *testing.T, d string, f *event.File) {
				want(t, "path", f.Path, d+"/new")
				if !f.Created || f.Truncated || f.Access != event.AccessWrite || !f.HasMode || f.Mode != 0o640 {
					t.Errorf("created %v truncated %v access %v mode %o", f.Created, f.Truncated, f.Access, f.Mode)
				}
				want(t, "syscall", f.SyscallName, "open")
			}},
		{"openat relative to cwd truncates existing", func(d string) { touch(t, d+"/rel") },
			func(d string) []string {
				return []string{"openat", ".", "rel", strconv.Itoa(unix.O_RDWR | unix.O_TRUNC), "0"}
			},
			event.KindFileOpen, func(t *testing.T, d string, f *event.File) {
				want(t, "path", f.Path, d+"/rel")
				if f.Created || !f.Truncated || f.Access != event.AccessReadWrite || f.HasMode {
					t.Errorf("created %v truncated %v access %v hasmode %v", f.Created, f.Truncated, f.Access, f.HasMode)
				}
			}},
		{"openat2 through a dirfd and ..", func(d string) { os.Mkdir(d+"/sub", 0o755); os.Mkdir(d+"/other", 0o755) },
			func(d string) []string {
				return []string{"openat2", d + "/sub", "../other/x", strconv.Itoa(unix.O_CREAT | unix.O_WRONLY | unix.O_EXCL), "0600"}
			},
			event.KindFileOpen, func(t *testing.T, d string, f *event.File) {
				// The file the kernel opened, resolved by the kernel.
				want(t, "path", f.Path, d+"/other/x")
				want(t, "syscall", f.SyscallName, "openat2")
				if !f.Created || f.Mode != 0o600 {
					t.Errorf("created %v mode %o", f.Created, f.Mode)
				}
			}},
		{"creat", nil, func(d string) []string { return []string{"creat", "c", "0644"} },
			event.KindFileOpen, func(t *testing.T, d string, f *event.File) {
				want(t, "path", f.Path, d+"/c")
				if !f.Created || f.Access != event.AccessWrite || f.SyscallName != "creat" {
					t.Errorf("%+v", *f)
				}
			}},
		{"rename", func(d string) { touch(t, d+"/a") }, func(d string) []string { return []string{"rename", "a", d + "/b"} },
			event.KindFileRename, func(t *testing.T, d string, f *event.File) {
				want(t, "previous", f.PreviousPath, d+"/a")
				want(t, "path", f.Path, d+"/b")
			}},
		{"renameat with dirfds", func(d string) { os.Mkdir(d+"/x", 0o755); os.Mkdir(d+"/y", 0o755); touch(t, d+"/x/f") },
			func(d string) []string { return []string{"renameat", d + "/x", "f", d + "/y", "g"} },
			event.KindFileRename, func(t *testing.T, d string, f *event.File) {
				want(t, "previous", f.PreviousPath, d+"/x/f")
				want(t, "path", f.Path, d+"/y/g")
			}},
		{"renameat2 exchange", func(d string) { touch(t, d+"/p"); touch(t, d+"/q") },
			func(d string) []string {
				return []string{"renameat2", ".", "p", ".", "q", strconv.Itoa(unix.RENAME_EXCHANGE)}
			},
			event.KindFileRename, func(t *testing.T, d string, f *event.File) {
				want(t, "previous", f.PreviousPath, d+"/p")
				want(t, "path", f.Path, d+"/q")
				if !f.Exchange || f.NoReplace {
					t.Errorf("exchange %v noreplace %v", f.Exchange, f.NoReplace)
				}
			}},
		{"renameat2 noreplace", func(d string) { touch(t, d+"/p") },
			func(d string) []string {
				return []string{"renameat2", ".", "p", ".", "r", strconv.Itoa(unix.RENAME_NOREPLACE)}
			},
			event.KindFileRename, func(t *testing.T, d string, f *event.File) {
				want(t, "path", f.Path, d+"/r")
				if f.Exchange || !f.NoReplace {
					t.Errorf("exchange %v noreplace %v", f.Exchange, f.NoReplace)
				}
			}},
		{"unlink", func(d string) { touch(t, d+"/u") }, func(d string) []string { return []string{"unlink", "u"} },
			event.KindFileDelete, func(t *testing.T, d string, f *event.File) {
				want(t, "path", f.Path, d+"/u")
				if f.Directory {
					t.Error("file reported as directory")
				}
			}},
		{"unlinkat removedir", func(d string) { os.Mkdir(d+"/dd", 0o755) },
			func(d string) []string { return []string{"unlinkat", d, "dd", strconv.Itoa(unix.AT_REMOVEDIR)} },
			event.KindFileDelete, func(t *testing.T, d string, f *event.File) {
				want(t, "path", f.Path, d+"/dd")
				if !f.Directory {
					t.Error("directory not reported as one")
				}
			}},
		{"rmdir", func(d string) { os.Mkdir(d+"/rd", 0o755) }, func(d string) []string { return []string{"rmdir", d + "/rd"} },
			event.KindFileDelete, func(t *testing.T, d string, f *event.File) {
				want(t, "path", f.Path, d+"/rd")
				if !f.Directory || f.SyscallName != "rmdir" {
					t.Errorf("%+v", *f)
				}
			}},
		{"link", func(d string) { touch(t, d+"/src") }, func(d string) []string { return []string{"link", "src", "hard"} },
			event.KindFileLink, func(t *testing.T, d string, f *event.File) {
				want(t, "source", f.SourcePath, d+"/src")
				want(t, "path", f.Path, d+"/hard")
			}},
		{"linkat", func(d string) { os.Mkdir(d+"/l", 0o755); touch(t, d+"/src") },
			func(d string) []string { return []string{"linkat", ".", "src", d + "/l", "hard", "0"} },
			event.KindFileLink, func(t *testing.T, d string, f *event.File) {
				want(t, "source", f.SourcePath, d+"/src")
				want(t, "path", f.Path, d+"/l/hard")
			}},
		{"symlink", nil, func(d string) []string { return []string{"symlink", "../target", "sym"} },
			event.KindFileSymlink, func(t *testing.T, d string, f *event.File) {
				want(t, "target", f.SymlinkTarget, "../target")
				want(t, "path", f.Path, d+"/sym")
			}},
		{"symlinkat", func(d string) { os.Mkdir(d+"/s", 0o755) },
			func(d string) []string { return []string{"symlinkat", "/etc/passwd", d + "/s", "pw"} },
			event.KindFileSymlink, func(t *testing.T, d string, f *event.File) {
				want(t, "target", f.SymlinkTarget, "/etc/passwd")
				want(t, "path", f.Path, d+"/s/pw")
			}},
		{"mkdir", nil, func(d string) []string { return []string{"mkdir", "m", "0750"} },
			event.KindFileMkdir, func(t *testing.T, d string, f *event.File) {
				want(t, "path", f.Path, d+"/m")
				if !f.HasMode || f.Mode != 0o750 {
					t.Errorf("mode %o", f.Mode)
				}
			}},
		{"mkdirat", func(d string) { os.Mkdir(d+"/ma", 0o755) },
			func(d string) []string { return []string{"mkdirat", d + "/ma", "n", "0700"} },
			event.KindFileMkdir, func(t *testing.T, d string, f *event.File) { want(t, "path", f.Path, d+"/ma/n") }},
		{"chmod", func(d string) { touch(t, d+"/ch") }, func(d string) []string { return []string{"chmod", "ch", "0600"} },
			event.KindFileChmod, func(t *testing.T, d string, f *event.File) {
				want(t, "path", f.Path, d+"/ch")
				if f.Mode != 0o600 {
					t.Errorf("mode %o", f.Mode)
				}
			}},
		{"fchmod resolves the fd", func(d string) { touch(t, d+"/fch") }, func(d string) []string { return []string{"fchmod", d + "/fch", "04755"} },
			event.KindFileChmod, func(t *testing.T, d string, f *event.File) {
				want(t, "path", f.Path, d+"/fch")
				if f.Mode != 0o4755 || f.SyscallName != "fchmod" {
					t.Errorf("mode %o via %s", f.Mode, f.SyscallName)
				}
			}},
		{"fchmodat", func(d string) { touch(t, d+"/fa") }, func(d string) []string { return []string{"fchmodat", d, "fa", "0640"} },
			event.KindFileChmod, func(t *testing.T, d string, f *event.File) { want(t, "path", f.Path, d+"/fa") }},
		{"chown", func(d string) { touch(t, d+"/o") }, func(d string) []string { return []string{"chown", "o", "1000", "1001"} },
			event.KindFileChown, func(t *testing.T, d string, f *event.File) {
				want(t, "path", f.Path, d+"/o")
				if f.OwnerID != 1000 || f.GroupID != 1001 {
					t.Errorf("owner %d group %d", f.OwnerID, f.GroupID)
				}
			}},
		{"lchown of a symlink", func(d string) { os.Symlink("/nonexistent", d+"/ls") },
			func(d string) []string { return []string{"lchown", "ls", "7", "-1"} },
			event.KindFileChown, func(t *testing.T, d string, f *event.File) {
				want(t, "path", f.Path, d+"/ls")
				if f.OwnerID != 7 || f.GroupID != event.NoID {
					t.Errorf("owner %d group %d", f.OwnerID, f.GroupID)
				}
			}},
		{"fchown", func(d string) { touch(t, d+"/fo") }, func(d string) []string { return []string{"fchown", d + "/fo", "-1", "5"} },
			event.KindFileChown, func(t *testing.T, d string, f *event.File) {
				want(t, "path", f.Path, d+"/fo")
				if f.OwnerID != event.NoID || f.GroupID != 5 {
					t.Errorf("owner %d group %d", f.OwnerID, f.GroupID)
				}
			}},
		{"fchownat", func(d string) { touch(t, d+"/foa") }, func(d string) []string { return []string{"fchownat", d, "foa", "3", "4", "0"} },
			event.KindFileChown, func(t *testing.T, d string, f *event.File) { want(t, "path", f.Path, d+"/foa") }},
		{"truncate", func(d string) { touch(t, d+"/tr") }, func(d string) []string { return []string{"truncate", "tr", "0"} },
			event.KindFileTruncate, func(t *testing.T, d string, f *event.File) { want(t, "path", f.Path, d+"/tr") }},
		{"ftruncate", func(d string) { touch(t, d+"/ftr") }, func(d string) []string { return []string{"ftruncate", d + "/ftr", "0"} },
			event.KindFileTruncate, func(t *testing.T, d string, f *event.File) { want(t, "path", f.Path, d+"/ftr") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := t.TempDir()
			if tc.setup != nil {
				tc.setup(d)
			}
			pid, errno := runFileOp(t, d, tc.args(d)...)
			if errno != 0 {
				t.Fatalf("%v failed: %v", tc.args(d), unix.Errno(errno))
			}
			ev := waitFile(t, c, tc.kind, pid)
			if ev.File.Errno != 0 || len(ev.Truncated) != 0 {
				t.Errorf("errno %d truncated %v", ev.File.Errno, ev.Truncated)
			}
			if ev.Process.ExecutablePath != self || ev.Process.ParentPID != uint32(os.Getpid()) {
				t.Errorf("initiator %q parent %d", ev.Process.ExecutablePath, ev.Process.ParentPID)
			}
			if ev.File.SyscallName != tc.args(d)[0] {
				t.Errorf("syscall %q, want %q", ev.File.SyscallName, tc.args(d)[0])
			}
			tc.check(t, d, ev.File)
		})
	}
}

func want(t *testing.T, what, got, wantv string) {
	t.Helper()
	if got != wantv {
		t.Errorf("%s = %q, want %q", what, got, wantv)
	}
}

// Reads are reported only with Opens: all; failures only when asked.
func TestFileOpenModesAndFailures(t *testing.T) {
	for _, tc := range []struct {
		name         string
		opts         Options
		readReported bool
		failReported bool
	}{
		{"writes only (default)", Options{}, false, false},
		{"all opens, failures", Options{Opens: OpensAll, ReportFailed: true}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, c := startProvider(t, tc.opts)
			d := t.TempDir()
			touch(t, d+"/r")
			readPID, _ := runFileOp(t, d, "open", d+"/r", strconv.Itoa(unix.O_RDONLY), "0")
			failPID, errno := runFileOp(t, d, "open", d+"/missing/x", strconv.Itoa(unix.O_CREAT|unix.O_WRONLY), "0600")
			if errno != int(unix.ENOENT) {
				t.Fatalf("errno %d, want ENOENT", errno)
			}
			// A later write open that is always reported marks the end.
			endPID, _ := runFileOp(t, d, "open", d+"/end", strconv.Itoa(unix.O_CREAT|unix.O_WRONLY), "0600")
			waitFile(t, c, event.KindFileOpen, endPID)
			c.mu.Lock()
			defer c.mu.Unlock()
			var read, fail *event.Event
			for _, ev := range c.events {
				if ev.Kind == event.KindFileOpen && ev.Process.PID == readPID && ev.File.Path == d+"/r" {
					read = ev
				}
				if ev.Kind == event.KindFileOpen && ev.Process.PID == failPID && ev.File.Errno != 0 {
					fail = ev
				}
			}
			if (read != nil) != tc.readReported {
				t.Errorf("read open reported %v, want %v", read != nil, tc.readReported)
			}
			if read != nil && (read.File.Access != event.AccessRead || read.File.Created) {
				t.Errorf("read open: %+v", *read.File)
			}
			if (fail != nil) != tc.failReported {
				t.Errorf("failed open reported %v, want %v", fail != nil, tc.failReported)
			}
			if fail != nil {
				if fail.File.Errno != int(unix.ENOENT) || fail.File.Path != d+"/missing/x" || fail.File.Created {
					t.Errorf("failed open: %+v", *fail.File)
				}
			}
		})
	}
}

// Paths cross bind mounts as the process sees them, hostile names come
// through byte for byte, and a path longer than the buffer is marked.
func TestFilePaths(t *testing.T) { forEachReadMode(t, testFilePaths) }

func testFilePaths(t *testing.T, probeReads bool) {
	_, c := startProvider(t, Options{ProbeReads: probeReads})
	d := t.TempDir()

	// A bind mount: the file is reached through the mount point.
	src, dst := d+"/src", d+"/dst"
	os.Mkdir(src, 0o755)
	os.Mkdir(dst, 0o755)
	if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind mount: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dst, unix.MNT_DETACH) })
	pid, _ := runFileOp(t, d, "open", dst+"/viabind", strconv.Itoa(unix.O_CREAT|unix.O_WRONLY), "0600")
	want(t, "bind mount path", waitFile(t, c, event.KindFileOpen, pid).File.Path, dst+"/viabind")

	// A chrooted process: its absolute names are below its root, and
	// reported as the host sees them.
	jail := d + "/jail"
	os.MkdirAll(jail+"/etc", 0o755)
	touch(t, jail+"/etc/victim")
	pid, errno := runFileOp(t, d, "chroot="+jail, "unlink", "/etc/victim")
	if errno != 0 {
		t.Fatalf("unlink in the chroot: %v", unix.Errno(errno))
	}
	want(t, "chrooted absolute path", waitFile(t, c, event.KindFileDelete, pid).File.Path, jail+"/etc/victim")
	pid, _ = runFileOp(t, d, "chroot="+jail, "open", "/etc/new", strconv.Itoa(unix.O_CREAT|unix.O_WRONLY), "0600")
	want(t, "chrooted open", waitFile(t, c, event.KindFileOpen, pid).File.Path, jail+"/etc/new")

	// Hostile names.
	for _, name := range []string{"with space", "new\nline", "bad\xff\xfe", strings.Repeat("n", 255), "-dash", "*"} {
		pid, errno := runFileOp(t, d, "open", name, strconv.Itoa(unix.O_CREAT|unix.O_WRONLY), "0600")
		if errno != 0 {
			t.Fatalf("create %q: %v", name, unix.Errno(errno))
		}
		want(t, "hostile name", waitFile(t, c, event.KindFileOpen, pid).File.Path, d+"/"+name)
		renamed := name + ".2"
		if len(renamed) > 255 {
			renamed = strings.Repeat("m", 255)
		}
		pid, errno = runFileOp(t, d, "rename", name, renamed)
		if errno != 0 {
			t.Fatalf("rename %q: %v", name, unix.Errno(errno))
		}
		ev := waitFile(t, c, event.KindFileRename, pid)
		want(t, "hostile rename from", ev.File.PreviousPath, d+"/"+name)
		want(t, "hostile rename to", ev.File.Path, d+"/"+renamed)
	}
}

// In a new mount namespace that shares the host's root (unshare -m, as
// systemd's sandboxing does), a file the host sees is reported with its
// path, unmarked; a file in a mount that exists only in that namespace with
// the path the process sees, marked as such. Paths deeper than 64
// directories are whole, and a path longer than the buffer is marked, with
// its true tail.
func TestFilePathsNamespacesAndDepth(t *testing.T) {
	forEachReadMode(t, testFilePathsNamespacesAndDepth)
}

func testFilePathsNamespacesAndDepth(t *testing.T, probeReads bool) {
	_, c := startProvider(t, Options{ProbeReads: probeReads})
	self, _ := os.Executable()
	d, _ := filepath.EvalSymlinks(t.TempDir())
	os.Mkdir(d+"/ns", 0o755)
	inNamespace := func(script string) uint32 {
		t.Helper()
		cmd := exec.Command("/usr/bin/unshare", "-m", "--propagation", "private", "/bin/sh", "-c", script, "sh", d, self)
		cmd.Env = []string{fileOpEnv + "=1"}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return uint32(cmd.Process.Pid)
	}
	ev := waitFile(t, c, event.KindFileOpen, inNamespace(`exec "$2" open "$1/shared" 65 384`))
	want(t, "path in the host's file system", ev.File.Path, d+"/shared")
	if len(ev.HostPathUnknown) != 0 || len(ev.ProcessView) != 0 {
		t.Errorf("host path unknown %v, process view %v: the host sees this path", ev.HostPathUnknown, ev.ProcessView)
	}
	ev = waitFile(t, c, event.KindFileOpen, inNamespace(`mount -t tmpfs none "$1/ns" && exec "$2" open "$1/ns/inside" 65 384`))
	want(t, "path in a private mount", ev.File.Path, d+"/ns/inside")
	if !slices.Equal(ev.HostPathUnknown, []string{event.AttrFilePath}) {
		t.Errorf("host path unknown = %v, want file.path", ev.HostPathUnknown)
	}
	if _, err := os.Stat(d + "/ns/inside"); err == nil {
		t.Fatal("the tmpfs leaked out of the namespace: the test proves nothing")
	}

	for _, tc := range []struct {
		name string
		dirs []string
		cut  bool
	}{
		{"100 levels", slices.Repeat([]string{"d"}, 100), false},
		{"longer than PATH_MAX", slices.Repeat([]string{strings.Repeat("L", 250)}, 20), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			mkdirChain(t, base, tc.dirs)
			args := []string{"cd=" + base}
			for _, dir := range tc.dirs {
				args = append(args, "cd="+dir)
			}
			args = append(args, "open", "leaf", strconv.Itoa(unix.O_CREAT|unix.O_WRONLY), "0600")
			pid, errno := runFileOp(t, "/", args...)
			if errno != 0 {
				t.Fatalf("open: %v", unix.Errno(errno))
			}
			ev := waitFile(t, c, event.KindFileOpen, pid)
			full := base + "/" + strings.Join(tc.dirs, "/") + "/leaf"
			if !tc.cut {
				want(t, "path", ev.File.Path, full)
				return
			}
			if !slices.Contains(ev.Truncated, event.AttrFilePath) {
				t.Fatalf("truncated = %v, want file.path", ev.Truncated)
			}
			if strings.HasPrefix(ev.File.Path, "/") || !strings.HasSuffix(full, "/"+ev.File.Path) {
				t.Fatalf("cut path %.60q... is not a relative tail of the real path", ev.File.Path)
			}
		})
	}
}
