package ebpf

import (
	"bufio"
	"errors"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fileOpEnv makes the test binary run one file syscall (see fileOp) instead
// of the tests, so that the syscall comes from a child the provider watches.
const fileOpEnv = "OTEL_SENSOR_TEST_FILEOP"

// fileOp runs the syscall named by args[0] with the arguments after it and
// returns 0, or the errno. A directory argument "." means AT_FDCWD;
// anything else is opened as a dirfd.
//
// Leading "cd=DIR" arguments change the working directory one step at a
// time first, so it can be deeper than PATH_MAX; "chroot=DIR" changes the
// root directory (the working directory stays where it is). A leading
// "wait" writes "ready" to stdout and waits for a line on stdin first.
func fileOp(args []string) int {
	if len(args) > 0 && args[0] == "wait" {
		os.Stdout.WriteString("ready\n")
		if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
			panic(err)
		}
		args = args[1:]
	}
	for len(args) > 0 && (strings.HasPrefix(args[0], "cd=") || strings.HasPrefix(args[0], "chroot=")) {
		var err error
		if dir, ok := strings.CutPrefix(args[0], "cd="); ok {
			err = unix.Chdir(dir)
		} else {
			err = unix.Chroot(strings.TrimPrefix(args[0], "chroot="))
		}
		if err != nil {
			panic(err)
		}
		args = args[1:]
	}
	num := func(i int) int {
		n, err := strconv.ParseInt(args[i], 0, 64)
		if err != nil {
			panic(err)
		}
		return int(n)
	}
	dir := func(i int) int {
		if args[i] == "." {
			return unix.AT_FDCWD
		}
		fd, err := unix.Open(args[i], unix.O_DIRECTORY|unix.O_RDONLY|unix.O_PATH, 0)
		if err != nil {
			panic(err)
		}
		return fd
	}
	openFd := func(path string) int {
		fd, err := unix.Open(path, unix.O_RDWR, 0)
		if err != nil {
			panic(err)
		}
		return fd
	}
	// The legacy syscalls are called raw: x/sys/unix implements open,
	// rename, unlink and the like with their *at forms.
	str := func(i int) uintptr {
		p, err := unix.BytePtrFromString(args[i])
		if err != nil {
			panic(err)
		}
		return uintptr(unsafe.Pointer(p))
	}
	raw := func(nr uintptr, a ...uintptr) error {
		a = append(a, 0, 0, 0)
		if _, _, e := unix.Syscall(nr, a[0], a[1], a[2]); e != 0 {
			return e
		}
		return nil
	}
	var err error
	switch args[0] {
	case "open":
		err = raw(unix.SYS_OPEN, str(1), uintptr(num(2)), uintptr(num(3)))
	case "openat":
		_, err = unix.Openat(dir(1), args[2], num(3), uint32(num(4)))
	case "openat2":
		_, err = unix.Openat2(dir(1), args[2], &unix.OpenHow{Flags: uint64(num(3)), Mode: uint64(num(4))})
	case "creat":
		err = raw(unix.SYS_CREAT, str(1), uintptr(num(2)))
	case "rename":
		err = raw(unix.SYS_RENAME, str(1), str(2))
	case "renameat":
		err = unix.Renameat(dir(1), args[2], dir(3), args[4])
	case "renameat2":
		err = unix.Renameat2(dir(1), args[2], dir(3), args[4], uint(num(5)))
	case "unlink":
		err = raw(unix.SYS_UNLINK, str(1))
	case "unlinkat":
		err = unix.Unlinkat(dir(1), args[2], num(3))
	case "rmdir":
		err = raw(unix.SYS_RMDIR, str(1))
	case "link":
		err = raw(unix.SYS_LINK, str(1), str(2))
	case "linkat":
		err = unix.Linkat(dir(1), args[2], dir(3), args[4], num(5))
	case "symlink":
		err = raw(unix.SYS_SYMLINK, str(1), str(2))
	case "symlinkat":
		err = unix.Symlinkat(args[1], dir(2), args[3])
	case "mkdir":
		err = raw(unix.SYS_MKDIR, str(1), uintptr(num(2)))
	case "mkdirat":
		err = unix.Mkdirat(dir(1), args[2], uint32(num(3)))
	case "chmod":
		err = raw(unix.SYS_CHMOD, str(1), uintptr(num(2)))
	case "fchmod":
		err = unix.Fchmod(openFd(args[1]), uint32(num(2)))
	case "fchmodat":
		err = unix.Fchmodat(dir(1), args[2], uint32(num(3)), 0)
	case "chown":
		err = raw(unix.SYS_CHOWN, str(1), uintptr(num(2)), uintptr(num(3)))
	case "lchown":
		err = raw(unix.SYS_LCHOWN, str(1), uintptr(num(2)), uintptr(num(3)))
	case "fchown":
		err = unix.Fchown(openFd(args[1]), num(2), num(3))
	case "fchownat":
		err = unix.Fchownat(dir(1), args[2], num(3), num(4), num(5))
	case "truncate":
		err = unix.Truncate(args[1], int64(num(2)))
	case "flood": // flood DIR N: create (or truncate) N files as fast as possible
		for i := range num(2) {
			fd, e := unix.Open(args[1]+"/f"+strconv.Itoa(i%1000), unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, 0o600)
			if e != nil {
				err = e
				break
			}
			unix.Close(fd)
		}
	case "ftruncate":
		err = unix.Ftruncate(openFd(args[1]), int64(num(2)))
	default:
		os.Stderr.WriteString("unknown file op " + args[0] + "\n")
		return 100
	}
	var errno unix.Errno
	if errors.As(err, &errno) {
		return int(errno)
	}
	if err != nil {
		return 101
	}
	return 0
}
