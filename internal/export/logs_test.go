package export

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/otel-sensor/otel-sensor/internal/event"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// Fixed inputs so the golden files are stable.
var (
	testResource = Resource{
		Version: "0.1.0-test",
		Attributes: []Attribute{
			{"service.name", "otel-sensor"},
			{"service.version", "0.1.0-test"},
			{"service.instance.id", "0d7a5f4c-3c5e-5d55-8c3a-52c0b5c1a9e1"},
			{"host.name", "testhost"},
			{"host.id", "0123456789abcdef0123456789abcdef"},
			{"host.arch", "amd64"},
			{"os.type", "linux"},
			{"os.version", "6.18.0-test"},
			{"os.name", "Debian GNU/Linux"},
			{"os.description", "Debian GNU/Linux 13 (trixie)"},
			{"sensor.provider", "ebpf"},
		},
	}
	eventTime    = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)
	observedTime = eventTime.Add(1500 * time.Microsecond)
	startTime    = time.Date(2025, 3, 14, 15, 0, 0, 123000000, time.UTC)
)

func testCredentials(uid, gid uint32) *event.Credentials {
	return &event.Credentials{
		UID: uid, EUID: uid, SUID: uid, FSUID: uid,
		GID: gid, EGID: gid, SGID: gid, FSGID: gid,
	}
}

// mappingCases are representative events, one golden file each.
func mappingCases() []struct {
	name string
	ev   *event.Event
} {
	return []struct {
		name string
		ev   *event.Event
	}{
		{"exec", &event.Event{
			Kind: event.KindExec, Time: eventTime, Observed: observedTime,
			Process: event.Process{
				PID: 4242, ParentPID: 4200, StartTime: startTime,
				ExecutablePath:       "/usr/bin/grep",
				ParentExecutablePath: "/usr/bin/bash",
				Credentials:          testCredentials(1000, 1000),
				LoginUID:             1000,
				CgroupPath:           "/user.slice/user-1000.slice/session-3.scope",
				Comm:                 "grep",
			},
			Exec: &event.Exec{
				Args:             []string{"grep", "-r", "two words", "line1\nline2", `quote"back\slash`},
				ArgsCount:        5,
				WorkingDirectory: "/home/alice/my project",
				SessionLeaderPID: 4100,
				GroupLeaderPID:   4242,
				Interactive:      true,
				TTY:              "pts/0",
			},
		}},
		{"exec_invalid_utf8", &event.Event{
			Kind: event.KindExec, Time: eventTime, Observed: observedTime,
			Process: event.Process{
				PID: 5000, ParentPID: 1, StartTime: startTime,
				ExecutablePath: "/tmp/\xff\xfeevil",
				Credentials:    testCredentials(0, 0),
				LoginUID:       event.NoLoginUID,
				CgroupPath:     "/system.slice/docker-3f4e.scope",
				ContainerID:    "3f4e",
				Comm:           "\xffevil",
			},
			Exec: &event.Exec{
				Args:             []string{"\xff\xfeevil", "valid \uFFFD kept", "bad\xc3\x28byte", ""},
				ArgsCount:        4,
				WorkingDirectory: "/tmp/\xe2\x82",
			},
		}},
		{"fork", &event.Event{
			Kind: event.KindFork, Time: eventTime, Observed: observedTime,
			Process: event.Process{
				PID: 4243, ParentPID: 4242, StartTime: eventTime,
				ExecutablePath: "/usr/bin/bash",
				Comm:           "bash",
			},
		}},
		{"exit_code", &event.Event{
			Kind: event.KindExit, Time: eventTime, Observed: observedTime,
			Process: event.Process{
				PID: 4242, ParentPID: 4200, StartTime: startTime,
				ExecutablePath: "/usr/bin/grep",
				Credentials:    testCredentials(1000, 1000),
				LoginUID:       1000,
				Comm:           "grep",
			},
			Exit: &event.Exit{Code: 2},
		}},
		{"exit_signal_core", &event.Event{
			Kind: event.KindExit, Time: eventTime, Observed: observedTime,
			Process: event.Process{
				PID: 6000, ParentPID: 4200, StartTime: startTime,
				ExecutablePath: "/opt/app/server",
				Comm:           "server",
			},
			Exit: &event.Exit{Code: 0, Signal: 11, CoreDumped: true},
		}},
		{"credentials_change", &event.Event{
			Kind: event.KindCredentialsChange, Time: eventTime, Observed: observedTime,
			Process: event.Process{
				PID: 7000, ParentPID: 4200, StartTime: startTime,
				ExecutablePath: "/usr/bin/sudo",
				Credentials: &event.Credentials{
					UID: 0, EUID: 0, SUID: 0, FSUID: 0,
					GID: 1000, EGID: 1000, SGID: 1000, FSGID: 1000,
				},
				LoginUID: 1000,
				Comm:     "sudo",
			},
			Credentials: &event.CredentialsChange{
				Previous:    *testCredentials(1000, 1000),
				SyscallID:   105,
				SyscallName: "setuid",
			},
		}},
		{"exec_truncated", &event.Event{
			Kind: event.KindExec, Time: eventTime, Observed: observedTime,
			Process: event.Process{
				PID: 8000, ParentPID: 4200, StartTime: startTime,
				ExecutablePath: "deep/nested/bin/tool",
				Comm:           "tool",
			},
			Exec: &event.Exec{
				Args:      []string{"tool", "--first", "--sec"},
				ArgsCount: 1000,
			},
			Truncated: []string{event.AttrExecutablePath, event.AttrCommandArgs},
		}},
		{"exec_incomplete_netlink", &event.Event{
			Kind: event.KindExec, Time: eventTime, Observed: observedTime,
			Process:    event.Process{PID: 6000, ParentPID: 1, LoginUID: event.NoLoginUID},
			Exec:       &event.Exec{ArgsCount: -1},
			Incomplete: []string{"process.executable.path", "process.command_args", "process.interactive"},
		}},
		{"network_connect_tcp6_mapped", &event.Event{
			Kind: event.KindNetworkConnect, Time: eventTime, Observed: observedTime, Process: event.Process{PID: 5000, ParentPID: 4999, StartTime: startTime, ExecutablePath: "/usr/bin/tool", Credentials: testCredentials(1000, 1000), LoginUID: event.NoLoginUID, Comm: "tool"},
			Network: &event.Network{Family: 10, Transport: "tcp", Type: "ipv6", SocketType: 1, Protocol: 6,
				LocalAddress: "::ffff:127.0.0.1", LocalPort: 40000, PeerAddress: "::ffff:127.0.0.1", PeerPort: 443,
				InProgress: true, SyscallID: 42, SyscallName: "connect"},
		}},
		{"network_connect_refused", &event.Event{
			Kind: event.KindNetworkConnect, Time: eventTime, Observed: observedTime, Process: event.Process{PID: 5000, ParentPID: 4999, StartTime: startTime, ExecutablePath: "/usr/bin/tool", Credentials: testCredentials(1000, 1000), LoginUID: event.NoLoginUID, Comm: "tool"},
			Network: &event.Network{Family: 2, Transport: "tcp", Type: "ipv4", SocketType: 1, Protocol: 6,
				LocalAddress: "0.0.0.0", PeerAddress: "10.0.0.8", PeerPort: 22, PeerFromCall: true, Errno: 111, SyscallID: 42, SyscallName: "connect"},
		}},
		{"network_accept_unix_abstract", &event.Event{
			Kind: event.KindNetworkAccept, Time: eventTime, Observed: observedTime, Process: event.Process{PID: 5000, ParentPID: 4999, StartTime: startTime, ExecutablePath: "/usr/bin/tool", Credentials: testCredentials(1000, 1000), LoginUID: event.NoLoginUID, Comm: "tool"},
			Network: &event.Network{Family: 1, Transport: "unix", SocketType: 1,
				LocalAddress: "@dbus-\x00x", LocalAbstract: true, SyscallID: 288, SyscallName: "accept4"},
		}},
		{"network_listen", &event.Event{
			Kind: event.KindNetworkListen, Time: eventTime, Observed: observedTime, Process: event.Process{PID: 5000, ParentPID: 4999, StartTime: startTime, ExecutablePath: "/usr/bin/tool", Credentials: testCredentials(1000, 1000), LoginUID: event.NoLoginUID, Comm: "tool"},
			Network: &event.Network{Family: 2, Transport: "tcp", Type: "ipv4", SocketType: 1, Protocol: 6,
				LocalAddress: "0.0.0.0", LocalPort: 8080, SyscallID: 50, SyscallName: "listen"},
		}},
		{"file_open_created", &event.Event{
			Kind: event.KindFileOpen, Time: eventTime, Observed: observedTime, Process: event.Process{PID: 5000, ParentPID: 4999, StartTime: startTime, ExecutablePath: "/usr/bin/tool", Credentials: testCredentials(1000, 1000), LoginUID: event.NoLoginUID, Comm: "tool"},
			File: &event.File{Path: "/var/log/app.log", Access: event.AccessWrite, Flags: 0o1101 | 0o2000000, Created: true, Truncated: true,
				Mode: 0o640, HasMode: true, OwnerID: event.NoID, GroupID: event.NoID, SyscallID: 257, SyscallName: "openat"},
		}},
		{"file_rename_exchange", &event.Event{
			Kind: event.KindFileRename, Time: eventTime, Observed: observedTime, Process: event.Process{PID: 5000, ParentPID: 4999, StartTime: startTime, ExecutablePath: "/usr/bin/tool", Credentials: testCredentials(1000, 1000), LoginUID: event.NoLoginUID, Comm: "tool"},
			File: &event.File{Path: "/etc/b.conf", PreviousPath: "/etc/a.conf", Exchange: true, OwnerID: event.NoID, GroupID: event.NoID, SyscallID: 316, SyscallName: "renameat2"},
		}},
		{"file_delete_directory", &event.Event{
			Kind: event.KindFileDelete, Time: eventTime, Observed: observedTime, Process: event.Process{PID: 5000, ParentPID: 4999, StartTime: startTime, ExecutablePath: "/usr/bin/tool", Credentials: testCredentials(1000, 1000), LoginUID: event.NoLoginUID, Comm: "tool"},
			File: &event.File{Path: "/tmp/d", Directory: true, OwnerID: event.NoID, GroupID: event.NoID, SyscallID: 84, SyscallName: "rmdir"},
		}},
		{"file_symlink", &event.Event{
			Kind: event.KindFileSymlink, Time: eventTime, Observed: observedTime, Process: event.Process{PID: 5000, ParentPID: 4999, StartTime: startTime, ExecutablePath: "/usr/bin/tool", Credentials: testCredentials(1000, 1000), LoginUID: event.NoLoginUID, Comm: "tool"},
			File: &event.File{Path: "/tmp/link", SymlinkTarget: "../etc/shadow", OwnerID: event.NoID, GroupID: event.NoID, SyscallID: 88, SyscallName: "symlink"},
		}},
		{"file_chown_group_only", &event.Event{
			Kind: event.KindFileChown, Time: eventTime, Observed: observedTime, Process: event.Process{PID: 5000, ParentPID: 4999, StartTime: startTime, ExecutablePath: "/usr/bin/tool", Credentials: testCredentials(1000, 1000), LoginUID: event.NoLoginUID, Comm: "tool"},
			File: &event.File{Path: "/srv/data", OwnerID: event.NoID, GroupID: 33, SyscallID: 260, SyscallName: "fchownat"},
		}},
		{"file_open_denied", &event.Event{
			Kind: event.KindFileOpen, Time: eventTime, Observed: observedTime, Process: event.Process{PID: 5000, ParentPID: 4999, StartTime: startTime, ExecutablePath: "/usr/bin/tool", Credentials: testCredentials(1000, 1000), LoginUID: event.NoLoginUID, Comm: "tool"},
			File: &event.File{Path: "/etc/shadow", Access: event.AccessRead, OwnerID: event.NoID, GroupID: event.NoID, SyscallID: 257, SyscallName: "openat", Errno: 13},
		}},
		{"file_open_in_container", &event.Event{
			Kind: event.KindFileOpen, Time: eventTime, Observed: observedTime, Process: event.Process{PID: 5000, ParentPID: 4999, StartTime: startTime,
				ExecutablePath: "/run/containerd/io.containerd.runtime.v2.task/k8s.io/0123abcd/rootfs/usr/bin/app", Credentials: testCredentials(0, 0), LoginUID: event.NoLoginUID, Comm: "app",
				CgroupPath: "/kubepods.slice/cri-containerd-0123abcd.scope", ContainerID: "0123abcd"},
			File: &event.File{Path: "/run/containerd/io.containerd.runtime.v2.task/k8s.io/0123abcd/rootfs/etc/app.conf", Access: event.AccessWrite, Flags: 0o1101,
				Truncated: true, Mode: 0o644, HasMode: true, OwnerID: event.NoID, GroupID: event.NoID, SyscallID: 257, SyscallName: "openat"},
			ProcessView: map[string]string{
				event.AttrFilePath:       "/etc/app.conf",
				event.AttrExecutablePath: "/usr/bin/app",
			},
		}},
		{"file_rename_container_only", &event.Event{
			Kind: event.KindFileRename, Time: eventTime, Observed: observedTime, Process: event.Process{PID: 5000, ParentPID: 4999, StartTime: startTime,
				ExecutablePath: "/run/containerd/io.containerd.runtime.v2.task/k8s.io/0123abcd/rootfs/usr/bin/app", Credentials: testCredentials(0, 0), LoginUID: event.NoLoginUID, Comm: "app",
				CgroupPath: "/kubepods.slice/cri-containerd-0123abcd.scope", ContainerID: "0123abcd"},
			File:            &event.File{Path: "/run/secrets/b", PreviousPath: "/run/secrets/a", OwnerID: event.NoID, GroupID: event.NoID, SyscallID: 264, SyscallName: "renameat"},
			ProcessView:     map[string]string{event.AttrExecutablePath: "/usr/bin/app"},
			HostPathUnknown: []string{event.AttrFilePreviousPath, event.AttrFilePath},
		}},
		{"file_path_cut_invalid_utf8", &event.Event{
			Kind: event.KindFileChmod, Time: eventTime, Observed: observedTime, Process: event.Process{PID: 5000, ParentPID: 4999, StartTime: startTime, ExecutablePath: "/usr/bin/tool", Credentials: testCredentials(1000, 1000), LoginUID: event.NoLoginUID, Comm: "tool"},
			File:      &event.File{Path: "deep/dir/bad\xffname", Mode: 0o4755, HasMode: true, OwnerID: event.NoID, GroupID: event.NoID, SyscallID: 90, SyscallName: "chmod"},
			Truncated: []string{event.AttrFilePath},
		}},
	}
}

func marshalLogs(t testing.TB, ld plog.Logs) []byte {
	t.Helper()
	var m plog.JSONMarshaler
	b, err := m.MarshalLogs(ld)
	if err != nil {
		t.Fatalf("MarshalLogs: %v", err)
	}
	return b
}

func TestMappingGolden(t *testing.T) {
	for _, tc := range mappingCases() {
		t.Run(tc.name, func(t *testing.T) {
			checkGolden(t, tc.name, NewLogs(testResource, []*event.Event{tc.ev}))
		})
	}
	// The corners of the attribute list (attrs_test.go), in one batch.
	t.Run("edge_cases", func(t *testing.T) {
		checkGolden(t, "edge_cases", NewLogs(testResource, edgeCases()))
	})
}

// checkGolden compares ld's OTLP JSON, indented, with testdata/NAME.golden.json.
func checkGolden(t *testing.T, name string, ld plog.Logs) {
	t.Helper()
	got := marshalLogs(t, ld)
	if !utf8.Valid(got) || !json.Valid(got) {
		t.Fatalf("output is not valid UTF-8 JSON: %q", got)
	}
	var indented bytes.Buffer
	if err := json.Indent(&indented, got, "", "  "); err != nil {
		t.Fatal(err)
	}
	indented.WriteByte('\n')

	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.WriteFile(path, indented.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(indented.Bytes(), want) {
		t.Errorf("mapping of %s differs from %s (run go test -update after checking the change):\ngot:\n%s", name, path, indented.Bytes())
	}
}

// TestMappingRoundTrip writes each event through JSONLines, reads the line
// back with pdata's JSON unmarshaler and checks what users query.
func TestMappingRoundTrip(t *testing.T) {
	for _, tc := range mappingCases() {
		t.Run(tc.name, func(t *testing.T) {
			want := NewLogs(testResource, []*event.Event{tc.ev})
			var buf bytes.Buffer
			exp := NewJSONLines(&buf)
			if err := exp.ExportLogs(context.Background(), want); err != nil {
				t.Fatal(err)
			}
			line := buf.Bytes()
			if bytes.Count(line, []byte("\n")) != 1 || line[len(line)-1] != '\n' {
				t.Fatalf("want exactly one line, got %q", line)
			}
			got := unmarshalLogs(t, line)
			gotRec := onlyRecord(t, got)
			wantRec := onlyRecord(t, want)
			if gotRec.EventName() != tc.ev.Kind.Name() {
				t.Errorf("EventName = %q, want %q", gotRec.EventName(), tc.ev.Kind.Name())
			}
			if gotRec.Timestamp().AsTime() != tc.ev.Time || gotRec.ObservedTimestamp().AsTime() != tc.ev.Observed {
				t.Errorf("timestamps = %v, %v; want %v, %v", gotRec.Timestamp().AsTime(), gotRec.ObservedTimestamp().AsTime(), tc.ev.Time, tc.ev.Observed)
			}
			if gotRec.SeverityNumber() != plog.SeverityNumberInfo || gotRec.SeverityText() != "INFO" {
				t.Errorf("severity = %v %q", gotRec.SeverityNumber(), gotRec.SeverityText())
			}
			if gotRec.Body().Type() != pcommon.ValueTypeEmpty {
				t.Errorf("body = %v, want none", gotRec.Body().AsRaw())
			}
			if !gotRec.Attributes().Equal(wantRec.Attributes()) {
				t.Errorf("attributes after round trip:\n got %v\nwant %v", gotRec.Attributes().AsRaw(), wantRec.Attributes().AsRaw())
			}
			// Every string the provider gave is restored exactly.
			p := tc.ev.Process
			checkOriginal(t, gotRec.Attributes(), attrExecutablePath, p.ExecutablePath)
			checkOriginal(t, gotRec.Attributes(), attrComm, p.Comm)
			checkOriginal(t, gotRec.Attributes(), attrContainerID, p.ContainerID)
			if tc.ev.Exec != nil {
				checkOriginal(t, gotRec.Attributes(), attrWorkingDirectory, tc.ev.Exec.WorkingDirectory)
				if tc.ev.Exec.Args != nil { // nil: unknown, absent
					checkOriginalArray(t, gotRec.Attributes(), attrCommandArgs, tc.ev.Exec.Args)
				}
			}
			scope := got.ResourceLogs().At(0).ScopeLogs().At(0).Scope()
			if scope.Name() != ScopeName || scope.Version() != testResource.Version {
				t.Errorf("scope = %q %q", scope.Name(), scope.Version())
			}
		})
	}
}

func TestMappingAttributes(t *testing.T) {
	byName := map[string]*event.Event{}
	for _, tc := range mappingCases() {
		byName[tc.name] = tc.ev
	}
	attrsOf := func(name string) map[string]any {
		ld := NewLogs(testResource, []*event.Event{byName[name]})
		return onlyRecord(t, ld).Attributes().AsRaw()
	}

	exec := attrsOf("exec")
	for k, want := range map[string]any{
		"process.pid":                           int64(4242),
		"process.parent_pid":                    int64(4200),
		"process.executable.path":               "/usr/bin/grep",
		"process.executable.name":               "grep",
		"process.creation.time":                 "2025-03-14T15:00:00.123Z",
		"process.user.id":                       int64(1000),
		"sensor.process.login_user.id":          int64(1000),
		"process.linux.cgroup":                  "0::/user.slice/user-1000.slice/session-3.scope",
		"sensor.process.parent.executable.path": "/usr/bin/bash",
		"sensor.process.comm":                   "grep",
		"process.args_count":                    int64(5),
		"process.interactive":                   true,
		"sensor.process.tty":                    "pts/0",
	} {
		if exec[k] != want {
			t.Errorf("exec %s = %#v, want %#v", k, exec[k], want)
		}
	}
	for _, k := range []string{"container.id", "sensor.truncated"} {
		if _, ok := exec[k]; ok {
			t.Errorf("exec has %s although unknown", k)
		}
	}

	bad := attrsOf("exec_invalid_utf8")
	if _, ok := bad["sensor.process.login_user.id"]; ok {
		t.Error("login_user.id present although loginuid is unset")
	}
	if got := bad["process.executable.path"]; got != "/tmp/\uFFFD\uFFFDevil" {
		t.Errorf("executable.path = %q, want one U+FFFD per invalid byte", got)
	}
	if got := bad["process.working_directory"]; got != "/tmp/\uFFFD\uFFFD" {
		t.Errorf("working_directory = %q, want one U+FFFD per byte of the cut sequence", got)
	}
	if _, ok := bad["sensor.raw.process.executable.name"]; !ok {
		t.Error("the basename of an invalid path has no raw attribute")
	}

	fork := attrsOf("fork")
	for _, k := range []string{"process.user.id", "process.real_user.id", "sensor.process.group.id", "process.exit.code", "process.command_args"} {
		if _, ok := fork[k]; ok {
			t.Errorf("fork has %s although unknown or not a fork attribute", k)
		}
	}

	exitCode := attrsOf("exit_code")
	if exitCode["process.exit.code"] != int64(2) || exitCode["process.exit.time"] != "2025-03-14T15:09:26.535897932Z" {
		t.Errorf("exit = %v", exitCode)
	}
	for _, k := range []string{"sensor.process.exit.signal", "sensor.process.exit.core_dumped"} {
		if _, ok := exitCode[k]; ok {
			t.Errorf("exit by code has %s", k)
		}
	}
	sig := attrsOf("exit_signal_core")
	if sig["process.exit.code"] != int64(0) || sig["sensor.process.exit.signal"] != int64(11) || sig["sensor.process.exit.core_dumped"] != true {
		t.Errorf("exit by signal = %v", sig)
	}

	cred := attrsOf("credentials_change")
	for k, want := range map[string]any{
		"process.user.id":                        int64(0),
		"sensor.process.group.id":                int64(1000),
		"sensor.process.previous.user.id":        int64(1000),
		"sensor.process.previous.saved_user.id":  int64(1000),
		"sensor.process.previous.fs_group.id":    int64(1000),
		"sensor.syscall.id":                      int64(105),
		"sensor.syscall.name":                    "setuid",
		"sensor.process.previous.real_group.id":  int64(1000),
		"sensor.process.previous.saved_group.id": int64(1000),
	} {
		if cred[k] != want {
			t.Errorf("credentials_change %s = %#v, want %#v", k, cred[k], want)
		}
	}

	in := attrsOf("file_open_in_container")
	for k, want := range map[string]any{
		"file.path":                     "/run/containerd/io.containerd.runtime.v2.task/k8s.io/0123abcd/rootfs/etc/app.conf",
		"file.name":                     "app.conf",
		"sensor.process_view.file.path": "/etc/app.conf",
		"process.executable.name":       "app",
		"sensor.process_view.process.executable.path": "/usr/bin/app",
	} {
		if in[k] != want {
			t.Errorf("file_open_in_container %s = %#v, want %#v", k, in[k], want)
		}
	}
	if _, ok := in["sensor.host_path_unknown"]; ok {
		t.Error("sensor.host_path_unknown set although every path was named")
	}
	only := attrsOf("file_rename_container_only")
	if got, want := only["sensor.host_path_unknown"], []any{"sensor.file.previous_path", "file.path"}; !equalAny(got, want) {
		t.Errorf("sensor.host_path_unknown = %v, want %v", got, want)
	}
	if _, ok := only["sensor.process_view.file.path"]; ok {
		t.Error("a process view given for a path that is the process's view")
	}

	trunc := attrsOf("exec_truncated")
	if _, ok := trunc["process.executable.name"]; ok {
		t.Error("executable.name derived from a truncated path")
	}
	if got, want := trunc["sensor.truncated"], []any{"process.executable.path", "process.command_args"}; !equalAny(got, want) {
		t.Errorf("sensor.truncated = %v, want %v", got, want)
	}
}

func TestValidUTF8(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"plain", "plain"},
		{"\xff", "\uFFFD"},
		{"\xff\xfe", "\uFFFD\uFFFD"},               // strings.ToValidUTF8 would give one
		{"a\xe2\x82b", "a\uFFFD\uFFFDb"},           // a cut 3-byte sequence
		{"\xed\xa0\x80", "\uFFFD\uFFFD\uFFFD"},     // an encoded surrogate
		{"ok\uFFFD\xff", "ok\uFFFD\uFFFD"},         // a real U+FFFD is kept
		{"é\xc3", "é\uFFFD"},                       // valid multi-byte, then a cut one
		{"\x00nul\x7f", "\x00nul\x7f"},             // control bytes are valid UTF-8
		{"日本\xf0\x9f\x98", "日本\uFFFD\uFFFD\uFFFD"}, // a cut 4-byte sequence
	} {
		got := validUTF8(tc.in)
		if got != tc.want {
			t.Errorf("validUTF8(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if !utf8.ValidString(got) {
			t.Errorf("validUTF8(%q) is not valid", tc.in)
		}
	}
}

// FuzzMapStrings feeds arbitrary bytes as the strings of an exec event and
// checks the output is valid UTF-8 JSON that restores every input exactly.
func FuzzMapStrings(f *testing.F) {
	f.Add("/usr/bin/ls", "ls", "-la", "/home")
	f.Add("/tmp/\xff\xfe", "a\nb", "\xc3\x28", "/\xe2\x82")
	f.Add("", "", "\uFFFD", "\x00")
	f.Add("rel/path/", "\"\\", "\xed\xa0\x80", "日本")
	f.Fuzz(func(t *testing.T, path, arg0, arg1, cwd string) {
		args := []string{arg0, arg1}
		ev := &event.Event{
			Kind: event.KindExec, Time: eventTime, Observed: observedTime,
			Process: event.Process{PID: 1, ExecutablePath: path, Comm: arg0},
			Exec:    &event.Exec{Args: args, ArgsCount: 2, WorkingDirectory: cwd},
		}
		b := marshalLogs(t, NewLogs(testResource, []*event.Event{ev}))
		if !utf8.Valid(b) {
			t.Fatalf("output is not valid UTF-8: %q", b)
		}
		if !json.Valid(b) {
			t.Fatalf("output is not valid JSON: %q", b)
		}
		attrs := onlyRecord(t, unmarshalLogs(t, b)).Attributes()
		checkOriginal(t, attrs, attrExecutablePath, path)
		checkOriginal(t, attrs, attrComm, arg0)
		checkOriginal(t, attrs, attrWorkingDirectory, cwd)
		checkOriginalArray(t, attrs, attrCommandArgs, args)
		if path != "" {
			checkOriginal(t, attrs, attrExecutableName, basename(path))
		}
	})
}

func unmarshalLogs(t testing.TB, b []byte) plog.Logs {
	t.Helper()
	var u plog.JSONUnmarshaler
	ld, err := u.UnmarshalLogs(b)
	if err != nil {
		t.Fatalf("UnmarshalLogs(%q): %v", b, err)
	}
	return ld
}

func onlyRecord(t testing.TB, ld plog.Logs) plog.LogRecord {
	t.Helper()
	if ld.ResourceLogs().Len() != 1 || ld.ResourceLogs().At(0).ScopeLogs().Len() != 1 ||
		ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().Len() != 1 {
		t.Fatalf("want one resource, one scope, one record; got %d records", ld.LogRecordCount())
	}
	return ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
}

// checkOriginal asserts that attribute k carries want exactly: the raw bytes
// when want is not valid UTF-8, the string otherwise; and that it is absent
// when want is empty.
func checkOriginal(t testing.TB, attrs pcommon.Map, k, want string) {
	t.Helper()
	v, ok := attrs.Get(k)
	raw, hasRaw := attrs.Get(RawPrefix + k)
	switch {
	case want == "":
		if ok || hasRaw {
			t.Errorf("%s present for an unknown value", k)
		}
	case !ok || v.Type() != pcommon.ValueTypeStr:
		t.Errorf("%s missing or not a string", k)
	case utf8.ValidString(want):
		if v.Str() != want || hasRaw {
			t.Errorf("%s = %q (raw %v), want %q and no raw attribute", k, v.Str(), hasRaw, want)
		}
	default:
		if !hasRaw || raw.Type() != pcommon.ValueTypeBytes {
			t.Fatalf("%s: no bytes attribute %s for invalid UTF-8", k, RawPrefix+k)
		}
		if got := string(raw.Bytes().AsRaw()); got != want {
			t.Errorf("%s = %q, want %q", RawPrefix+k, got, want)
		}
		if v.Str() != validUTF8(want) {
			t.Errorf("%s = %q, want %q", k, v.Str(), validUTF8(want))
		}
	}
}

// checkOriginalArray is checkOriginal for a string array attribute.
func checkOriginalArray(t testing.TB, attrs pcommon.Map, k string, want []string) {
	t.Helper()
	v, ok := attrs.Get(k)
	if !ok || v.Type() != pcommon.ValueTypeSlice || v.Slice().Len() != len(want) {
		t.Fatalf("%s missing or not a %d-element array", k, len(want))
	}
	raw, hasRaw := attrs.Get(RawPrefix + k)
	allValid := true
	for _, w := range want {
		allValid = allValid && utf8.ValidString(w)
	}
	if allValid == hasRaw {
		t.Fatalf("%s: raw attribute present = %v with all elements valid = %v", k, hasRaw, allValid)
	}
	for i, w := range want {
		got := v.Slice().At(i).Str()
		if hasRaw {
			if r := string(raw.Slice().At(i).Bytes().AsRaw()); r != w {
				t.Errorf("%s[%d] = %q, want %q", RawPrefix+k, i, r, w)
			}
			w = validUTF8(w)
		}
		if got != w {
			t.Errorf("%s[%d] = %q, want %q", k, i, got, w)
		}
	}
	if hasRaw && raw.Slice().Len() != len(want) {
		t.Errorf("%s has %d elements, want %d", RawPrefix+k, raw.Slice().Len(), len(want))
	}
}

func equalAny(got any, want []any) bool {
	g, ok := got.([]any)
	if !ok || len(g) != len(want) {
		return false
	}
	for i := range g {
		if g[i] != want[i] {
			return false
		}
	}
	return true
}

func TestBasename(t *testing.T) {
	for in, want := range map[string]string{
		"/usr/bin/ls": "ls",
		"ls":          "ls",
		"/":           "",
		"a/b/":        "",
	} {
		if got := basename(in); got != want {
			t.Errorf("basename(%q) = %q, want %q", in, got, want)
		}
	}
}

func BenchmarkNewLogs(b *testing.B) {
	var evs []*event.Event
	for _, tc := range mappingCases() {
		evs = append(evs, tc.ev)
	}
	b.ReportAllocs()
	for b.Loop() {
		NewLogs(testResource, evs)
	}
}
