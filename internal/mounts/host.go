package mounts

import (
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

var errClosed = errors.New("mount table closed")

// HostMountInfo is the host's mount table: that of process 1, which is the
// host's init even when the sensor runs in a container of its own with the
// host's PID namespace (a DaemonSet with hostPID). /proc/self would be the
// sensor's container.
const HostMountInfo = "/proc/1/mountinfo"

// Host is the host's mount table, kept current: before each lookup it asks
// the kernel (poll(2), POLLPRI) whether the mounts changed since the table
// was read, and re-reads it if so. That check is one syscall; it makes the
// answer as current as the event being translated, so a file system
// unmounted and its device number reused is never confused with the old one.
// Host is safe for concurrent use.
//
// The file is a raw descriptor, not an *os.File: Go registers the files it
// opens with its network poller when the kernel lets it, and the kernel's
// mounts_poll reports a change once, to whichever poll asks first — the
// runtime's epoll_wait would swallow it.
type Host struct {
	mu    sync.Mutex
	path  string
	fd    int // -1 once closed
	table *Table
	buf   []byte
	reads uint64
}

// OpenHost opens and reads a mountinfo file (HostMountInfo on a real host).
func OpenHost(path string) (*Host, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open the host's mount table %s: %w", path, err)
	}
	h := &Host{path: path, fd: fd}
	if err := h.read(); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return h, nil
}

// read (re)reads the table from the start of the file. Called with mu held
// (or before h is shared).
func (h *Host) read() error {
	if _, err := unix.Seek(h.fd, 0, 0); err != nil {
		return fmt.Errorf("read %s: %w", h.path, err)
	}
	h.buf = h.buf[:0]
	for {
		if len(h.buf) == cap(h.buf) {
			h.buf = append(h.buf, make([]byte, max(16384, cap(h.buf)))...)[:len(h.buf)]
		}
		n, err := unix.Read(h.fd, h.buf[len(h.buf):cap(h.buf)])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", h.path, err)
		}
		if n == 0 {
			break
		}
		h.buf = h.buf[:len(h.buf)+n]
	}
	mounts, err := Parse(h.buf)
	if err != nil {
		return fmt.Errorf("parse %s: %w", h.path, err)
	}
	h.table = NewTable(mounts)
	h.reads++
	return nil
}

// changed reports whether the mount table changed since it was last polled
// (the kernel's mounts_poll: EPOLLERR|EPOLLPRI once per change).
func (h *Host) changed() bool {
	fds := []unix.PollFd{{Fd: int32(h.fd), Events: unix.POLLPRI}}
	for {
		n, err := unix.Poll(fds, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		// When poll fails the table is read again: never trust one
		// that may be stale.
		return err != nil || (n > 0 && fds[0].Revents&(unix.POLLPRI|unix.POLLERR) != 0)
	}
}

// Table returns the current table, re-read first if the mounts changed.
// A failed re-read keeps the previous table and returns the error.
func (h *Host) Table() (*Table, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fd < 0 {
		return nil, errClosed
	}
	if h.changed() {
		if err := h.read(); err != nil {
			return h.table, err
		}
	}
	return h.table, nil
}

// HostPath is Table().HostPath for the file system with the kernel's
// device number dev (see KernelDev). When the table cannot be re-read, it
// answers nothing rather than from a table that may be stale.
func (h *Host) HostPath(dev uint32, p string) (string, bool) {
	t, err := h.Table()
	if err != nil {
		return "", false
	}
	return t.HostPath(KernelDev(dev), p)
}

// Reads is how many times the table was read (for tests and diagnostics).
func (h *Host) Reads() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.reads
}

// Close releases the file. It is idempotent.
func (h *Host) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fd < 0 {
		return nil
	}
	err := unix.Close(h.fd)
	h.fd = -1
	return err
}

// HostMount reports whether the mount with this id is in the host's mount
// tree (mount ids are unique among the mounts of every namespace).
func (h *Host) HostMount(id int) bool {
	t, err := h.Table()
	if err != nil {
		return false
	}
	_, ok := t.Mount(id)
	return ok
}

// ProcessPath names the host's view of path p, which a process in another
// mount namespace sees on its mount with the given id (statx STATX_MNT_ID
// of the file), from that process's mount table (its /proc/PID/mountinfo,
// whose mount points are relative to the process's root, as p is). The
// file is at p below that mount's mount point; the mount shows its file
// system from its root; the host sees that file system where HostPath says.
func (h *Host) ProcessPath(mountinfo []byte, id int, p string) (string, bool) {
	ms, err := Parse(mountinfo)
	if err != nil {
		return "", false
	}
	m, ok := NewTable(ms).Mount(id)
	if !ok {
		return "", false
	}
	rest, ok := below(p, m.MountPoint)
	if !ok {
		return "", false
	}
	t, err := h.Table()
	if err != nil {
		return "", false
	}
	return t.HostPath(m.Dev, join(m.Root, rest))
}
