// Package mounts finds where the host sees a file that a process in another
// mount namespace (a container) named, from the host's mount table.
//
// The kernel gives, for such a file, the device of its file system and its
// path within that file system (from the file system's root, through the
// roots of any bind mounts, as if they were not there). The host's mount
// table, /proc/1/mountinfo, says where each file system, or which directory
// of it (a bind mount), is mounted on the host. A file is seen by the host
// at mountpoint + the rest of its path below the mount's root, if that path,
// resolved on the host, really ends in that mount: a mount on top of the
// mountpoint or below it on the way would hide it.
//
// Rules: a path is only ever given when the host's table proves it; a file
// system that the host has not mounted (a tmpfs only the container has, a
// container's procfs) has no host path, and the caller must say so rather
// than guess. The table is re-read when the kernel reports that the host's
// mounts changed (poll(2) on the mountinfo file, as systemd watches it).
package mounts

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Dev is a file system's device number, as mountinfo's major:minor shows it.
type Dev struct {
	Major, Minor uint32
}

func (d Dev) String() string { return fmt.Sprintf("%d:%d", d.Major, d.Minor) }

// KernelDev splits the kernel's internal dev_t (super_block->s_dev,
// MKDEV(major, minor) = major << 20 | minor), which is not stat(2)'s
// encoding.
func KernelDev(dev uint32) Dev {
	return Dev{Major: dev >> 20, Minor: dev & (1<<20 - 1)}
}

// Mount is one line of /proc/PID/mountinfo (proc_pid_mountinfo(5)).
type Mount struct {
	ID, ParentID int
	Dev          Dev
	// Root is the directory of the file system mounted here ("/" for a
	// whole file system, a directory inside it for a bind mount).
	Root string
	// MountPoint is where it is mounted, relative to the reading process's
	// root.
	MountPoint string
	FSType     string
	Source     string
}

var errMalformed = errors.New("malformed mountinfo line")

// Parse parses the content of a mountinfo file. It fails on the first line
// that is not a mountinfo line: a table the parser does not understand must
// not be used to name paths.
func Parse(b []byte) ([]Mount, error) {
	var mounts []Mount
	line := 0
	for len(b) > 0 {
		line++
		var l []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			l, b = b[:i], b[i+1:]
		} else {
			l, b = b, nil
		}
		if len(l) == 0 {
			continue
		}
		m, err := parseLine(l)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		mounts = append(mounts, m)
	}
	return mounts, nil
}

// parseLine parses
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//
// (id, parent id, major:minor, root, mount point, mount options, optional
// fields up to "-", file system type, source, super block options).
func parseLine(l []byte) (Mount, error) {
	f := strings.Fields(string(l))
	if len(f) < 7 {
		return Mount{}, errMalformed
	}
	sep := -1
	for i := 6; i < len(f); i++ {
		if f[i] == "-" {
			sep = i
			break
		}
	}
	if sep < 0 || len(f) < sep+3 {
		return Mount{}, errMalformed
	}
	id, err := strconv.Atoi(f[0])
	if err != nil {
		return Mount{}, fmt.Errorf("mount id %q: %w", f[0], errMalformed)
	}
	parent, err := strconv.Atoi(f[1])
	if err != nil {
		return Mount{}, fmt.Errorf("parent id %q: %w", f[1], errMalformed)
	}
	maj, min, ok := strings.Cut(f[2], ":")
	if !ok {
		return Mount{}, fmt.Errorf("device %q: %w", f[2], errMalformed)
	}
	major, err1 := strconv.ParseUint(maj, 10, 32)
	minor, err2 := strconv.ParseUint(min, 10, 32)
	if err1 != nil || err2 != nil {
		return Mount{}, fmt.Errorf("device %q: %w", f[2], errMalformed)
	}
	root, err := unescape(f[3])
	if err != nil {
		return Mount{}, err
	}
	point, err := unescape(f[4])
	if err != nil {
		return Mount{}, err
	}
	if !strings.HasPrefix(root, "/") || !strings.HasPrefix(point, "/") {
		return Mount{}, fmt.Errorf("root %q or mount point %q not absolute: %w", root, point, errMalformed)
	}
	src, err := unescape(f[sep+2])
	if err != nil {
		return Mount{}, err
	}
	return Mount{
		ID:         id,
		ParentID:   parent,
		Dev:        Dev{Major: uint32(major), Minor: uint32(minor)},
		Root:       root,
		MountPoint: point,
		FSType:     f[sep+1],
		Source:     src,
	}, nil
}

// unescape undoes the kernel's mangling of paths in mountinfo (seq_path's
// octal escapes: space \040, tab \011, newline \012, backslash \134).
func unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+4 > len(s) {
			return "", fmt.Errorf("escape in %q: %w", s, errMalformed)
		}
		n, err := strconv.ParseUint(s[i+1:i+4], 8, 8)
		if err != nil {
			return "", fmt.Errorf("escape in %q: %w", s, errMalformed)
		}
		b.WriteByte(byte(n))
		i += 3
	}
	return b.String(), nil
}
