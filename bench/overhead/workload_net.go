package main

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// x86_64 syscall numbers of the calls auditd is asked to watch.
const (
	sysConnect = 42
	sysAccept  = 43
	sysAccept4 = 288
)

// newConnect is the connect+accept loop on loopback: a TCP listener on
// 127.0.0.1 (an ephemeral port, made before the round is timed), and per
// iteration socket + blocking connect to it + accept4 + close of the
// accepted socket, then of the client's. On loopback the handshake
// completes inside connect, so one thread does both ends without waiting.
// The server end closes first, so the TIME_WAIT sockets are the server's
// and the client's ephemeral ports stay free (closing the client first
// made the loop about 50% slower here: every connect then searched past
// the client's TIME_WAIT ports). Two records per iteration:
// network.connect and network.accept, recognised by the worker's pid and
// the loopback address (the worker makes no other connection), and no
// error.type (every connect succeeds; see outputCount.Failed).
func newConnect(workloadEnv) (*workload, error) {
	return &workload{
		name:     "connect",
		title:    "connect+accept",
		op:       "connect+accept",
		loop:     "socket(AF_INET, SOCK_STREAM) + connect to a listener on 127.0.0.1 (blocking) + accept4 + close of both ends",
		defaultN: 6000,
		target:   1.15,
		events:   []string{"network.connect", "network.accept"},
		perIter:  2,
		matchRecord: func(event string, attrs []keyValue, pid int) bool {
			if p, ok := attrInt(attrs, "process.pid"); !ok || p != int64(pid) {
				return false
			}
			key := "network.peer.address" // connect: the listener is the peer
			if event == "network.accept" {
				key = "network.local.address"
			}
			return attrString(attrs, "network.transport") == "tcp" && attrString(attrs, key) == "127.0.0.1" &&
				attrString(attrs, "error.type") == ""
		},
		auditSyscalls: []string{"connect", "accept", "accept4", "bind", "listen"},
		auditPerIter:  2,
		matchAudit: func(r auditRecord, pid int) bool {
			return (r.Syscall == sysConnect || r.Syscall == sysAccept || r.Syscall == sysAccept4) &&
				r.Success && r.PID == pid
		},
		start: func() (func() error, func() error, error) {
			ln, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return nil, nil, fmt.Errorf("listener socket: %w", err)
			}
			sa, err := listenLoopback(ln)
			if err != nil {
				unix.Close(ln)
				return nil, nil, err
			}
			return func() error { return connectAccept(ln, sa) }, func() error { return unix.Close(ln) }, nil
		},
	}, nil
}

// listenLoopback binds fd to 127.0.0.1 on a port the kernel picks, listens,
// and returns the address.
func listenLoopback(fd int) (*unix.SockaddrInet4, error) {
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return nil, fmt.Errorf("bind 127.0.0.1:0: %w", err)
	}
	if err := unix.Listen(fd, 128); err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, fmt.Errorf("getsockname: %w", err)
	}
	in4, ok := sa.(*unix.SockaddrInet4)
	if !ok {
		return nil, fmt.Errorf("getsockname: %T, want IPv4", sa)
	}
	return in4, nil
}

func connectAccept(ln int, sa *unix.SockaddrInet4) error {
	c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	if err := unix.Connect(c, sa); err != nil {
		unix.Close(c)
		return fmt.Errorf("connect to 127.0.0.1:%d: %w", sa.Port, err)
	}
	s, _, err := unix.Accept4(ln, unix.SOCK_CLOEXEC)
	if err != nil {
		unix.Close(c)
		return fmt.Errorf("accept4: %w", err)
	}
	return errors.Join(unix.Close(s), unix.Close(c))
}
