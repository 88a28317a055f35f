package ebpf

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/otel-sensor/otel-sensor/internal/event"
)

// runSockOp runs a socket scenario in a child; prefix (e.g. unshare) is
// prepended to the command. It returns the child's pid and what it printed.
func runSockOp(t *testing.T, prefix []string, args ...string) (uint32, map[string]int) {
	t.Helper()
	self, _ := os.Executable()
	argv := append(append(append([]string{}, prefix...), self), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = []string{sockOpEnv + "=1"}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %v", argv, err)
	}
	return uint32(cmd.Process.Pid), parseKV(out)
}

func netEvent(t *testing.T, c *collector, kind event.Kind, pid uint32, match func(*event.Network) bool) *event.Network {
	t.Helper()
	return c.waitFor(t, kind.Name(), func(ev *event.Event) bool {
		return ev.Kind == kind && ev.Process.PID == pid && (match == nil || match(ev.Network))
	}).Network
}

type endpoint struct {
	addr string
	port int
}

func checkNet(t *testing.T, what string, n *event.Network, transport, typ string, local, peer endpoint) {
	t.Helper()
	if n.Transport != transport || n.Type != typ {
		t.Errorf("%s: transport %q type %q, want %q %q", what, n.Transport, n.Type, transport, typ)
	}
	if n.LocalAddress != local.addr || n.LocalPort != local.port {
		t.Errorf("%s: local %s:%d, want %s:%d", what, n.LocalAddress, n.LocalPort, local.addr, local.port)
	}
	if n.PeerAddress != peer.addr || n.PeerPort != peer.port {
		t.Errorf("%s: peer %s:%d, want %s:%d", what, n.PeerAddress, n.PeerPort, peer.addr, peer.port)
	}
}

func TestSocketEvents(t *testing.T) { forEachReadMode(t, testSocketEvents) }

func testSocketEvents(t *testing.T, probeReads bool) {
	_, c := startProvider(t, Options{ProbeReads: probeReads})
	for _, tc := range []struct {
		scenario string
		prefix   []string
		typ      string
		server   string // address the server binds and listens on
		connect  string // address the client connects to
	}{
		{"tcp4", nil, "ipv4", "127.0.0.1", "127.0.0.1"},
		{"tcp6", nil, "ipv6", "::1", "::1"},
		{"mapped", nil, "ipv6", "::", "::ffff:127.0.0.1"},
		{"nonblock", nil, "ipv4", "127.0.0.1", "127.0.0.1"},
		// A network namespace of the test's own, with only loopback up.
		{"tcp4", []string{"/usr/bin/unshare", "-n", "/bin/sh", "-c", `ip link set lo up && exec "$0" "$@"`}, "ipv4", "127.0.0.1", "127.0.0.1"},
	} {
		name := tc.scenario
		if tc.prefix != nil {
			name += " in a new network namespace"
		}
		t.Run(name, func(t *testing.T) {
			pid, kv := runSockOp(t, tc.prefix, tc.scenario)
			sp, cp := kv["server_port"], kv["client_port"]
			if sp == 0 || cp == 0 {
				t.Fatalf("helper printed %v", kv)
			}
			bind := netEvent(t, c, event.KindNetworkBind, pid, nil)
			checkNet(t, "bind", bind, "tcp", tc.typ, endpoint{tc.server, sp}, endpoint{})
			if bind.SyscallName != "bind" || bind.SocketType != unix.SOCK_STREAM {
				t.Errorf("bind: syscall %q socket type %d", bind.SyscallName, bind.SocketType)
			}
			checkNet(t, "listen", netEvent(t, c, event.KindNetworkListen, pid, nil), "tcp", tc.typ, endpoint{tc.server, sp}, endpoint{})

			conn := netEvent(t, c, event.KindNetworkConnect, pid, nil)
			checkNet(t, "connect", conn, "tcp", tc.typ, endpoint{tc.connect, cp}, endpoint{tc.connect, sp})
			inProgress := kv["connect_errno"] == int(unix.EINPROGRESS)
			if conn.InProgress != inProgress || conn.Errno != 0 {
				t.Errorf("connect: in progress %v errno %d; the call returned errno %d", conn.InProgress, conn.Errno, kv["connect_errno"])
			}
			if tc.scenario == "nonblock" {
				t.Logf("non-blocking connect returned errno %d", kv["connect_errno"])
			}

			acc := netEvent(t, c, event.KindNetworkAccept, pid, nil)
			checkNet(t, "accept", acc, "tcp", tc.typ, endpoint{tc.connect, sp}, endpoint{tc.connect, cp})
			if acc.SyscallName != "accept4" {
				t.Errorf("accept: syscall %q", acc.SyscallName)
			}
		})
	}
}

func TestSocketConnectRefusedAndUDP(t *testing.T) { forEachReadMode(t, testSocketConnectRefusedAndUDP) }

func testSocketConnectRefusedAndUDP(t *testing.T, probeReads bool) {
	_, c := startProvider(t, Options{ProbeReads: probeReads})

	pid, kv := runSockOp(t, nil, "refused")
	if kv["connect_errno"] != int(unix.ECONNREFUSED) {
		t.Fatalf("helper: %v", kv)
	}
	n := netEvent(t, c, event.KindNetworkConnect, pid, nil)
	if n.Errno != int(unix.ECONNREFUSED) || n.InProgress {
		t.Errorf("refused connect: errno %d in progress %v", n.Errno, n.InProgress)
	}
	if n.PeerAddress != "127.0.0.1" || n.PeerPort != kv["server_port"] || !n.PeerFromCall || n.Transport != "tcp" {
		t.Errorf("refused connect: peer %s:%d (requested %v) transport %q, want 127.0.0.1:%d", n.PeerAddress, n.PeerPort, n.PeerFromCall, n.Transport, kv["server_port"])
	}

	pid, kv = runSockOp(t, nil, "udp")
	n = netEvent(t, c, event.KindNetworkConnect, pid, nil)
	checkNet(t, "udp connect", n, "udp", "ipv4", endpoint{"127.0.0.1", kv["client_port"]}, endpoint{"127.0.0.2", 9})
	if n.SocketType != unix.SOCK_DGRAM {
		t.Errorf("udp socket type %d", n.SocketType)
	}
}

func TestSocketUnix(t *testing.T) { forEachReadMode(t, testSocketUnix) }

func testSocketUnix(t *testing.T, probeReads bool) {
	_, c := startProvider(t, Options{ProbeReads: probeReads})
	path := filepath.Join(t.TempDir(), "s p.sock")
	for _, tc := range []struct {
		scenario, name, want string
		abstract             bool
	}{
		{"unix", path, path, false},
		{"abstract", "otel-sensor-test\x01x", "@otel-sensor-test\x01x", true},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			pid, _ := runSockOp(t, nil, tc.scenario, tc.name)
			bind := netEvent(t, c, event.KindNetworkBind, pid, nil)
			if bind.Transport != "unix" || bind.LocalAddress != tc.want || bind.LocalAbstract != tc.abstract || bind.Type != "" {
				t.Errorf("bind: %+v", *bind)
			}
			conn := netEvent(t, c, event.KindNetworkConnect, pid, nil)
			if conn.PeerAddress != tc.want || conn.PeerAbstract != tc.abstract || conn.LocalAddress != "" {
				t.Errorf("connect: %+v", *conn)
			}
			acc := netEvent(t, c, event.KindNetworkAccept, pid, nil)
			if acc.LocalAddress != tc.want || acc.PeerAddress != "" {
				t.Errorf("accept: %+v", *acc)
			}
		})
	}
}
