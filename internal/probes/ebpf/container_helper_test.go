package ebpf

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// containerEnv makes the test binary enter a container of its own making
// (see inContainer) instead of running the tests.
const containerEnv = "OTEL_SENSOR_TEST_CONTAINER"

// inContainer does what a container runtime does, then file operations in
// it. args: ROOT, then mounts up to "--", then operations separated by "--".
//
// A mount is "bind:SRC:DST" (a host directory at DST in the container) or
// "tmpfs:DST" (a file system only the container has). An operation is one
// for fileOp, with its leading cd= arguments, "hold" to wait for a line on
// stdin (the container stays alive until the test has seen its events), or
// "exec PATH ARGS..." to exec the test binary copied into the container as
// a file operation helper.
//
// The container: a new mount namespace, entered by this thread only (a Go
// process has other threads, which stay outside: the thread is locked and
// never unlocked, and everything below runs on it), with every mount made
// private; ROOT bind-mounted onto itself (pivot_root wants a mount point, as
// runc does it); the mounts; pivot_root into ROOT and the old root
// detached. chroot would not do: it leaves the host's mount tree the
// process's tree.
func inContainer(args []string) int {
	runtime.LockOSThread()
	fail := func(what string, err error) int {
		os.Stderr.WriteString("container: " + what + ": " + err.Error() + "\n")
		return 102
	}
	root := args[0]
	args = args[1:]
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fail("unshare", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fail("make mounts private", err)
	}
	if err := unix.Mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fail("bind the root", err)
	}
	i := slices.Index(args, "--")
	for _, m := range args[:i] {
		f := strings.Split(m, ":")
		var err error
		switch f[0] {
		case "bind":
			if err = os.MkdirAll(filepath.Join(root, f[2]), 0o755); err == nil {
				err = unix.Mount(f[1], filepath.Join(root, f[2]), "", unix.MS_BIND|unix.MS_REC, "")
			}
		case "tmpfs":
			if err = os.MkdirAll(filepath.Join(root, f[1]), 0o755); err == nil {
				err = unix.Mount("none", filepath.Join(root, f[1]), "tmpfs", 0, "")
			}
		}
		if err != nil {
			return fail(m, err)
		}
	}
	old := filepath.Join(root, ".old")
	if err := os.Mkdir(old, 0o700); err != nil {
		return fail("mkdir .old", err)
	}
	if err := unix.PivotRoot(root, old); err != nil {
		return fail("pivot_root", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fail("chdir /", err)
	}
	if err := unix.Unmount("/.old", unix.MNT_DETACH); err != nil {
		return fail("detach the old root", err)
	}
	if err := os.Remove("/.old"); err != nil {
		return fail("rmdir /.old", err)
	}

	ops := args[i+1:]
	for len(ops) > 0 {
		op := ops
		if j := slices.Index(ops, "--"); j >= 0 {
			op, ops = ops[:j], ops[j+1:]
		} else {
			ops = nil
		}
		if op[0] == "hold" {
			if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
				return fail("hold", err)
			}
			continue
		}
		if op[0] == "exec" {
			err := unix.Exec(op[1], op[1:], []string{fileOpEnv + "=1"})
			return fail("exec", err)
		}
		if rc := fileOp(op); rc != 0 {
			os.Stderr.WriteString("container: " + strings.Join(op, " ") + ": " + unix.Errno(rc).Error() + "\n")
			return 103
		}
	}
	return 0
}
