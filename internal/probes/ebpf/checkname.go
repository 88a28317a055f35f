package ebpf

import (
	"path"
	"strconv"

	"golang.org/x/sys/unix"
)

// checkName reports whether name (relative, clean, of several names) leads
// from the root or working directory (from: "root", "cwd") of a task of
// mount namespace mntNS to the same directory, and by the same way, as
// from hostBase on the host: through no mount point and no symbolic link on
// either side. Then hostBase/name is the file the process named, though
// only the directory it started from was walked in the kernel (a name a
// process in a container passed: unlink "/var/lib/x", "sub/x"). Otherwise
// the name may lead elsewhere than on the host: a mount only the container
// has (/tmp a tmpfs of its own, a volume), or a symbolic link that
// resolves from the host's root.
//
// The directory is read through the /proc directory (procs) of the first
// task still running in that namespace (the thread that made the call,
// usually gone for a short-lived rm, then its parent, a shell in the same
// container) and must be the directory the host has at hostBase. The
// directories are those of now, moments after the call: one renamed in
// between is not followed.
func checkName(procs []string, mntNS uint32, from, hostBase, name string) bool {
	dir := path.Dir(name)
	if dir == "." {
		return false
	}
	host, err := unix.Open(hostBase, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(host)
	for _, proc := range procs {
		var ns unix.Stat_t
		if unix.Stat(proc+"/ns/mnt", &ns) != nil || ns.Ino != uint64(mntNS) {
			continue
		}
		start, err := unix.Open(proc+"/"+from, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		ok := sameFile(start, host) && sameDir(start, host, dir)
		unix.Close(start)
		if ok {
			return true
		}
	}
	return false
}

// procDirs are the /proc directories of a thread (tid of process pid) and
// of the process ppid.
func procDirs(pid, tid, ppid uint32) []string {
	task := "/proc/" + strconv.FormatUint(uint64(pid), 10) + "/task/" + strconv.FormatUint(uint64(tid), 10)
	return []string{task, "/proc/" + strconv.FormatUint(uint64(ppid), 10)}
}

// sameDir reports whether dir leads from a and from b, through no mount
// point, symbolic link or "..", to one directory.
func sameDir(a, b int, dir string) bool {
	how := unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_XDEV | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	da, err := unix.Openat2(a, dir, &how)
	if err != nil {
		return false
	}
	defer unix.Close(da)
	db, err := unix.Openat2(b, dir, &how)
	if err != nil {
		return false
	}
	defer unix.Close(db)
	return sameFile(da, db)
}

func sameFile(a, b int) bool {
	var sa, sb unix.Stat_t
	return unix.Fstat(a, &sa) == nil && unix.Fstat(b, &sb) == nil && sa.Dev == sb.Dev && sa.Ino == sb.Ino
}
