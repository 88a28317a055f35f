package ebpf

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// sockOpEnv makes the test binary run one socket scenario (see sockOp) and
// print what it observed, so the syscalls come from a watched child.
const sockOpEnv = "OTEL_SENSOR_TEST_SOCKOP"

// sockOp runs a scenario and prints "key=value" lines: the ports it got and
// the errno of the connect.
func sockOp(args []string) int {
	must := func(err error) {
		if err != nil {
			fmt.Fprintln(os.Stderr, args[0], err)
			os.Exit(100)
		}
	}
	port := func(sa unix.Sockaddr) int {
		switch a := sa.(type) {
		case *unix.SockaddrInet4:
			return a.Port
		case *unix.SockaddrInet6:
			return a.Port
		}
		return 0
	}
	// server listens on addr (port 0) and returns the socket and its port.
	server := func(family int, addr unix.Sockaddr) (int, unix.Sockaddr) {
		fd, err := unix.Socket(family, unix.SOCK_STREAM, 0)
		must(err)
		must(unix.Bind(fd, addr))
		must(unix.Listen(fd, 8))
		sa, err := unix.Getsockname(fd)
		must(err)
		return fd, sa
	}
	errnoOf := func(err error) int {
		var e unix.Errno
		if errors.As(err, &e) {
			return int(e)
		}
		return 0
	}
	switch args[0] {
	case "tcp4", "tcp6", "mapped", "nonblock":
		family, srvAddr := unix.AF_INET, unix.Sockaddr(&unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
		switch args[0] {
		case "tcp6":
			family, srvAddr = unix.AF_INET6, &unix.SockaddrInet6{Addr: [16]byte{15: 1}}
		case "mapped": // dual-stack listener on ::, reached at ::ffff:127.0.0.1
			family, srvAddr = unix.AF_INET6, &unix.SockaddrInet6{}
		}
		srv, sa := server(family, srvAddr)
		p := port(sa)
		var dst unix.Sockaddr
		switch args[0] {
		case "tcp6":
			dst = &unix.SockaddrInet6{Addr: [16]byte{15: 1}, Port: p}
		case "mapped":
			dst = &unix.SockaddrInet6{Addr: [16]byte{10: 0xff, 11: 0xff, 12: 127, 15: 1}, Port: p}
		default:
			dst = &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: p}
		}
		typ := unix.SOCK_STREAM
		if args[0] == "nonblock" {
			typ |= unix.SOCK_NONBLOCK
		}
		cli, err := unix.Socket(family, typ, 0)
		must(err)
		cerr := unix.Connect(cli, dst)
		if cerr != nil && !errors.Is(cerr, unix.EINPROGRESS) {
			must(cerr)
		}
		conn, _, err := unix.Accept4(srv, 0)
		must(err)
		csa, _ := unix.Getsockname(cli)
		fmt.Printf("server_port=%d\nclient_port=%d\nconnect_errno=%d\n", p, port(csa), errnoOf(cerr))
		unix.Close(conn)
	case "refused":
		// A port that was just free: nothing listens there.
		srv, sa := server(unix.AF_INET, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
		unix.Close(srv)
		cli, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
		must(err)
		cerr := unix.Connect(cli, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: port(sa)})
		fmt.Printf("server_port=%d\nconnect_errno=%d\n", port(sa), errnoOf(cerr))
	case "udp":
		cli, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
		must(err)
		must(unix.Connect(cli, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 2}, Port: 9}))
		csa, _ := unix.Getsockname(cli)
		fmt.Printf("client_port=%d\n", port(csa))
	case "unix", "abstract":
		name := args[1]
		if args[0] == "abstract" {
			name = "@" + name // x/sys/unix: a leading @ means abstract
		}
		srv, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
		must(err)
		must(unix.Bind(srv, &unix.SockaddrUnix{Name: name}))
		must(unix.Listen(srv, 8))
		cli, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
		must(err)
		must(unix.Connect(cli, &unix.SockaddrUnix{Name: name}))
		conn, _, err := unix.Accept4(srv, 0)
		must(err)
		unix.Close(conn)
	default:
		fmt.Fprintln(os.Stderr, "unknown scenario", args[0])
		return 100
	}
	return 0
}

// parseKV reads the helper's key=value lines.
func parseKV(out []byte) map[string]int {
	kv := map[string]int{}
	for _, line := range strings.Fields(string(out)) {
		if k, v, ok := strings.Cut(line, "="); ok {
			kv[k], _ = strconv.Atoi(v)
		}
	}
	return kv
}
