package netlink

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strconv"

	"golang.org/x/sys/unix"
)

// maxArgsBytes is how much of a command line is kept, as the eBPF provider
// keeps it; maxCmdlineBytes bounds how much is read to count the arguments.
const (
	maxArgsBytes    = 16 << 10
	maxCmdlineBytes = 4 << 20
)

// procStat is what the provider takes from /proc/<pid>/stat.
type procStat struct {
	pid, ppid, pgrp, session uint32
	state                    byte
	ttyNr                    uint32
	startTicks               uint64 // clock ticks since boot (field 22)
}

// alive reports whether the task still has its memory and files: a zombie
// (Z) or dead (X) task has neither command line nor directories.
func (s procStat) alive() bool { return s.state != 'Z' && s.state != 'X' }

// parseStat parses one /proc/<pid>/stat line. comm is enclosed in
// parentheses and may itself hold spaces and parentheses, so it runs from
// the first '(' to the last ')'.
func parseStat(b []byte) (procStat, error) {
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 1 || end < open || b[open-1] != ' ' {
		return procStat{}, errors.New("stat: malformed")
	}
	var s procStat
	pid, err := strconv.ParseUint(string(b[:open-1]), 10, 32)
	if err != nil {
		return procStat{}, fmt.Errorf("stat: pid: %w", err)
	}
	s.pid = uint32(pid)
	rest := bytes.TrimSuffix(b[end+1:], []byte("\n"))
	// Fields after comm, counted from 0: state, ppid, pgrp, session,
	// tty_nr, ..., starttime at 19.
	for i := 0; i <= 19; i++ {
		if len(rest) < 2 || rest[0] != ' ' {
			return procStat{}, fmt.Errorf("stat: %d fields after comm, want 20", i)
		}
		rest = rest[1:]
		field := rest
		if sp := bytes.IndexByte(rest, ' '); sp >= 0 {
			field, rest = rest[:sp], rest[sp:]
		} else {
			rest = nil
		}
		var err error
		switch i {
		case 0:
			if len(field) != 1 {
				return procStat{}, fmt.Errorf("stat: state %q", field)
			}
			s.state = field[0]
		case 1:
			s.ppid, err = parseUint32(field)
		case 2:
			s.pgrp, err = parseUint32(field)
		case 3:
			s.session, err = parseUint32(field)
		case 4:
			// tty_nr is printed as a signed int; the encoded device
			// number fits in 32 bits.
			var v int64
			v, err = strconv.ParseInt(string(field), 10, 64)
			s.ttyNr = uint32(v)
		case 19:
			s.startTicks, err = strconv.ParseUint(string(field), 10, 64)
		}
		if err != nil {
			return procStat{}, fmt.Errorf("stat: field %d: %w", i, err)
		}
	}
	return s, nil
}

func parseUint32(b []byte) (uint32, error) {
	v, err := strconv.ParseUint(string(b), 10, 32)
	return uint32(v), err
}

// ttyName names a controlling terminal from its encoded device number as
// /dev does; "" when the device is not one it knows.
func ttyName(dev uint32) string {
	major := (dev >> 8) & 0xfff
	minor := (dev & 0xff) | ((dev >> 12) & 0xfff00)
	switch {
	case major == 136: // UNIX98_PTY_SLAVE_MAJOR; the minor is the pty's index
		return "pts/" + strconv.FormatUint(uint64(minor), 10)
	case major == 4 && minor < 64:
		return "tty" + strconv.FormatUint(uint64(minor), 10)
	case major == 4:
		return "ttyS" + strconv.FormatUint(uint64(minor-64), 10)
	case major == 5 && minor == 1:
		return "console"
	}
	return ""
}

// splitCmdline splits the NUL-separated command line kept from
// /proc/<pid>/cmdline. A complete one ends with a NUL; when cut, the last
// argument may be partial.
func splitCmdline(b []byte) []string {
	b = bytes.TrimSuffix(b, []byte{0})
	args := make([]string, 0, bytes.Count(b, []byte{0})+1)
	for {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			return append(args, string(b))
		}
		args = append(args, string(b[:i]))
		b = b[i+1:]
	}
}

// procReader opens processes under a procfs mount. It reuses one buffer
// and is not safe for concurrent use.
type procReader struct {
	root string
	buf  []byte
}

func newProcReader(root string) *procReader {
	return &procReader{root: root, buf: make([]byte, 4096)}
}

// procDir reads the files of one process through a descriptor of its
// /proc/<pid> directory. The descriptor stays bound to the process it was
// opened for: once that process is reaped, reads fail (ESRCH) instead of
// returning the data of a process that reused the pid. Results that are
// byte slices are valid until the next read.
type procDir struct {
	fd int
	r  *procReader
}

// open opens root/<pid>. An error wrapping fs.ErrNotExist means the
// process is gone.
func (r *procReader) open(pid uint32) (procDir, error) {
	path := r.root + "/" + strconv.FormatUint(uint64(pid), 10)
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return procDir{}, &fs.PathError{Op: "open", Path: path, Err: gone(err)}
		}
		return procDir{fd: fd, r: r}, nil
	}
}

func (d procDir) close() { unix.Close(d.fd) }

// stat reads and parses the stat file.
func (d procDir) stat() (procStat, error) {
	b, err := d.read("stat", len(d.r.buf), nil)
	if err != nil {
		return procStat{}, err
	}
	return parseStat(b)
}

// cmdline reads the command line: the arguments in the first maxArgsBytes
// (cut reports that the rest is missing) and argc, the number of
// arguments in the whole command line (-1 when it is longer than
// maxCmdlineBytes). An empty command line, which a zombie or a process
// without memory has, is an error: the arguments are unknown.
func (d procDir) cmdline() (args []string, argc int, cut bool, err error) {
	nuls, total := 0, 0
	var last byte
	kept, err := d.read("cmdline", maxArgsBytes, func(chunk []byte) bool {
		nuls += bytes.Count(chunk, []byte{0})
		total += len(chunk)
		last = chunk[len(chunk)-1]
		return total < maxCmdlineBytes
	})
	if err != nil {
		return nil, -1, false, err
	}
	if total == 0 {
		return nil, -1, false, errors.New("cmdline: empty")
	}
	argc = nuls
	if last != 0 {
		argc++ // the last argument has no terminator (rewritten by the process)
	}
	if total >= maxCmdlineBytes {
		argc = -1
	}
	return splitCmdline(kept), argc, total > len(kept), nil
}

// link reads the target of a symbolic link (exe, cwd).
func (d procDir) link(name string) (string, error) {
	for {
		n, err := unix.Readlinkat(d.fd, name, d.r.buf)
		if err != nil {
			return "", &fs.PathError{Op: "readlink", Path: name, Err: gone(err)}
		}
		if n < len(d.r.buf) {
			return string(d.r.buf[:n]), nil
		}
		if len(d.r.buf) >= 1<<16 {
			return "", &fs.PathError{Op: "readlink", Path: name, Err: unix.ENAMETOOLONG}
		}
		d.r.buf = make([]byte, 2*len(d.r.buf))
	}
}

// read reads the file name. It keeps at most keep bytes (in the reader's
// buffer, grown as needed) and returns them; when each is not nil, it sees
// every chunk read, kept or not, and reading stops when it returns false.
// Without each, reading stops once keep bytes are kept.
func (d procDir) read(name string, keep int, each func([]byte) bool) ([]byte, error) {
	fd, err := unix.Openat(d.fd, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: gone(err)}
	}
	defer unix.Close(fd)
	if len(d.r.buf) < keep {
		d.r.buf = make([]byte, keep)
	}
	buf := d.r.buf[:keep]
	n := 0
	var scratch []byte
	for {
		dst := buf[n:]
		if len(dst) == 0 {
			if each == nil {
				return buf, nil
			}
			if scratch == nil {
				scratch = make([]byte, 64<<10)
			}
			dst = scratch
		}
		m, err := unix.Read(fd, dst)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return nil, &fs.PathError{Op: "read", Path: name, Err: gone(err)}
		case m == 0:
			return buf[:n], nil
		}
		if n < len(buf) {
			n += m
		}
		if each != nil && !each(dst[:m]) {
			return buf[:n], nil
		}
	}
}

// gone maps the error procfs gives for a file of a process that has been
// reaped (ESRCH) to ENOENT, which is fs.ErrNotExist under errors.Is.
func gone(err error) error {
	if err == unix.ESRCH {
		return unix.ENOENT
	}
	return err
}

// parseSocketDrops returns the Drops column of the line of /proc/net/netlink
// for the socket with the given inode.
func parseSocketDrops(b []byte, inode uint64) (uint64, error) {
	for len(b) > 0 {
		line := b
		if nl := bytes.IndexByte(b, '\n'); nl >= 0 {
			line, b = b[:nl], b[nl+1:]
		} else {
			b = nil
		}
		// sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode
		f := bytes.Fields(line)
		if len(f) < 10 {
			continue
		}
		ino, err := strconv.ParseUint(string(f[9]), 10, 64)
		if err != nil || ino != inode {
			continue
		}
		drops, err := strconv.ParseUint(string(f[8]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("netlink socket %d: drops: %w", inode, err)
		}
		return drops, nil
	}
	return 0, fmt.Errorf("netlink socket %d: %w", inode, fs.ErrNotExist)
}
