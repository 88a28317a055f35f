package proc

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/otel-sensor/otel-sensor/internal/event"
)

// maxFileSize bounds what is read of one /proc file (a status file is a few
// KiB even with thousands of CPUs).
const maxFileSize = 1 << 20

// errNotLeader is returned for /proc/<tid> of a thread that is not the
// thread-group leader: the cache holds processes, not threads.
var errNotLeader = errors.New("not a thread-group leader")

// procReader reads processes from a procfs mount. It reuses one buffer and
// is not safe for concurrent use.
type procReader struct {
	root       string
	clockTicks uint64
	paths      HostPaths // nil: executables are kept as readlink gives them
	buf        []byte
}

func newProcReader(root string, clockTicks uint64, paths HostPaths) *procReader {
	return &procReader{root: root, clockTicks: clockTicks, paths: paths, buf: make([]byte, 4096)}
}

// read returns the entry of process pid. Every file is read through one
// descriptor of the /proc/<pid> directory, which stays bound to the process
// it was opened for: if that process exits and its pid is reused, reads fail
// instead of returning the new process's data.
//
// An error that wraps fs.ErrNotExist means the process is gone (or never
// was). The executable is left empty when it cannot be read: kernel threads
// and zombies have none, and a protected process's is not readable.
func (r *procReader) read(pid uint32) (Entry, error) {
	dir, err := openDir(r.root + "/" + strconv.FormatUint(uint64(pid), 10))
	if err != nil {
		return Entry{}, fmt.Errorf("process %d: %w", pid, err)
	}
	defer unix.Close(dir)

	b, err := r.readFile(dir, "stat")
	if err != nil {
		return Entry{}, fmt.Errorf("process %d: %w", pid, err)
	}
	st, err := parseStat(b)
	if err != nil {
		return Entry{}, fmt.Errorf("process %d: %w", pid, err)
	}
	if st.PID != pid {
		return Entry{}, fmt.Errorf("process %d: stat names pid %d", pid, st.PID)
	}
	start, err := ticksToBoottime(st.StartTicks, r.clockTicks)
	if err != nil {
		return Entry{}, fmt.Errorf("process %d: %w", pid, err)
	}

	if b, err = r.readFile(dir, "status"); err != nil {
		return Entry{}, fmt.Errorf("process %d: %w", pid, err)
	}
	sts, err := parseStatus(b)
	if err != nil {
		return Entry{}, fmt.Errorf("process %d: %w", pid, err)
	}
	if sts.Tgid != pid {
		return Entry{}, fmt.Errorf("process %d: %w (thread group %d)", pid, errNotLeader, sts.Tgid)
	}

	e := Entry{
		PID:            pid,
		ParentPID:      st.ParentPID,
		StartTime:      start,
		Credentials:    sts.Credentials,
		HasCredentials: true,
		LoginUID:       event.NoLoginUID,
		Comm:           st.Comm,
	}
	if !st.Kthread() {
		e.ExecutablePath = r.readLink(dir, "exe")
		if r.paths != nil && e.ExecutablePath != "" {
			r.hostExecutable(dir, &e)
		}
	}

	// cgroup and loginuid are absent without CONFIG_CGROUPS / CONFIG_AUDIT.
	switch b, err = r.readFile(dir, "cgroup"); {
	case err == nil:
		if e.CgroupPath, err = parseCgroup(b); err != nil {
			return Entry{}, fmt.Errorf("process %d: %w", pid, err)
		}
		e.ContainerID = ContainerID(e.CgroupPath)
	case !errors.Is(err, fs.ErrNotExist):
		return Entry{}, fmt.Errorf("process %d: %w", pid, err)
	}
	switch b, err = r.readFile(dir, "loginuid"); {
	case err == nil:
		if e.LoginUID, err = parseLoginUID(b); err != nil {
			return Entry{}, fmt.Errorf("process %d: %w", pid, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return Entry{}, fmt.Errorf("process %d: %w", pid, err)
	}
	return e, nil
}

// hostExecutable replaces the executable path of e, which readlink gave as
// the process's mount tree shows it, with the host's view (HostView); when
// that cannot be named, the path stays the process's view, marked.
func (r *procReader) hostExecutable(dir int, e *Entry) {
	view := e.ExecutablePath
	p, deleted := strings.CutSuffix(view, deletedSuffix)
	host, unknown := HostView(r.paths, dir, "exe", p)
	if unknown {
		e.ExecutableHostUnknown = true
		return
	}
	if deleted {
		host += deletedSuffix
	}
	e.ExecutablePath = host
	if host != view {
		e.ExecutableProcessView = view
	}
}

// HostView names the host's view of path, which readlink of the link name
// in dir (a /proc/<pid> directory: exe, cwd) gave as the process's mount
// tree shows it. It is path itself when the file is on one of the host's
// mounts (or statx STATX_MNT_ID, 5.8+, cannot tell). Else the process is in
// another mount namespace (a container): its mount table (dir's mountinfo)
// says which file system and directory the file's mount shows, and the
// host's table where the host sees them; unknown when they cannot name it.
func HostView(paths HostPaths, dir int, name, path string) (host string, unknown bool) {
	var stx unix.Statx_t
	if err := unix.Statx(dir, name, 0, unix.STATX_MNT_ID, &stx); err != nil || stx.Mask&unix.STATX_MNT_ID == 0 {
		return path, false
	}
	if paths.HostMount(int(stx.Mnt_id)) {
		return path, false
	}
	fd, err := unix.Openat(dir, "mountinfo", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return path, true
	}
	f := os.NewFile(uintptr(fd), "mountinfo")
	mountinfo, err := io.ReadAll(io.LimitReader(f, maxFileSize))
	f.Close()
	if err != nil {
		return path, true
	}
	host, ok := paths.ProcessPath(mountinfo, int(stx.Mnt_id), path)
	if !ok {
		return path, true
	}
	return host, false
}

// startTicks returns the start time in clock ticks of the process pid.
func (r *procReader) startTicks(pid uint32) (uint64, error) {
	dir, err := openDir(r.root + "/" + strconv.FormatUint(uint64(pid), 10))
	if err != nil {
		return 0, err
	}
	defer unix.Close(dir)
	b, err := r.readFile(dir, "stat")
	if err != nil {
		return 0, err
	}
	st, err := parseStat(b)
	if err != nil {
		return 0, err
	}
	return st.StartTicks, nil
}

// openDir opens a directory for use with the *at system calls.
func openDir(path string) (int, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, &fs.PathError{Op: "open", Path: path, Err: gone(err)}
		}
		return fd, nil
	}
}

// readFile reads the file name in dir into r.buf, growing it as needed. The
// result is valid until the next read.
func (r *procReader) readFile(dir int, name string) ([]byte, error) {
	fd, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: gone(err)}
	}
	defer unix.Close(fd)
	n := 0
	for {
		if n == len(r.buf) {
			if len(r.buf) >= maxFileSize {
				return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("file too large")}
			}
			r.buf = append(r.buf, make([]byte, len(r.buf))...)
		}
		m, err := unix.Read(fd, r.buf[n:])
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return nil, &fs.PathError{Op: "read", Path: name, Err: gone(err)}
		case m == 0:
			return r.buf[:n], nil
		}
		n += m
	}
}

// readLink returns the target of the symbolic link name in dir, or "" when
// it cannot be read.
func (r *procReader) readLink(dir int, name string) string {
	for {
		n, err := unix.Readlinkat(dir, name, r.buf)
		if err != nil {
			return ""
		}
		if n < len(r.buf) {
			return string(r.buf[:n])
		}
		if len(r.buf) >= maxFileSize {
			return ""
		}
		r.buf = make([]byte, 2*len(r.buf))
	}
}

// gone maps the errors procfs gives for a process that has exited (ESRCH
// from a file of an exited process) to fs.ErrNotExist, like ENOENT.
func gone(err error) error {
	if err == unix.ESRCH {
		return unix.ENOENT // unix.ENOENT is fs.ErrNotExist under errors.Is
	}
	return err
}
