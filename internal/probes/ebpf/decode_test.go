package ebpf

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/otel-sensor/otel-sensor/internal/event"
)

// The hand-written offsets in decode.go must match the layout bpf2go
// generated from bpf/sensor.h.
func TestRecordLayout(t *testing.T) {
	var h sensorRecordHeader
	var x sensorExecRecord
	var e sensorExitRecord
	var c sensorCredsRecord
	var f sensorFileRecord
	var k sensorSockRecord
	for _, tc := range []struct {
		name      string
		got, want uintptr
	}{
		{"header size", unsafe.Sizeof(h), headerSize},
		{"ktime", unsafe.Offsetof(h.Task) + unsafe.Offsetof(h.Task.Ktime), 8},
		{"start_time", unsafe.Offsetof(h.Task) + unsafe.Offsetof(h.Task.StartTime), 16},
		{"pid", unsafe.Offsetof(h.Task) + unsafe.Offsetof(h.Task.Pid), 32},
		{"ppid", unsafe.Offsetof(h.Task) + unsafe.Offsetof(h.Task.Ppid), 40},
		{"loginuid", unsafe.Offsetof(h.Task) + unsafe.Offsetof(h.Task.Loginuid), 44},
		{"creds", unsafe.Offsetof(h.Task) + unsafe.Offsetof(h.Task.Creds), 48},
		{"comm", unsafe.Offsetof(h.Task) + unsafe.Offsetof(h.Task.Comm), 80},
		{"exec parent_start_time", unsafe.Offsetof(x.ParentStartTime), 96},
		{"exec sid", unsafe.Offsetof(x.Sid), 104},
		{"exec pgid", unsafe.Offsetof(x.Pgid), 108},
		{"exec argc", unsafe.Offsetof(x.Argc), 112},
		{"exec args_len", unsafe.Offsetof(x.ArgsLen), 116},
		{"exec exe_len", unsafe.Offsetof(x.ExeLen), 118},
		{"exec cwd_len", unsafe.Offsetof(x.CwdLen), 120},
		{"exec cgroup_len", unsafe.Offsetof(x.CgroupLen), 122},
		{"exec exe origin", unsafe.Offsetof(x.ExeOrigin), execExeOrigin},
		{"exec cwd origin", unsafe.Offsetof(x.CwdOrigin), execCwdOrigin},
		{"exec tty", unsafe.Offsetof(x.Tty), execTTY},
		{"exec data", unsafe.Offsetof(x.Data), execFixedSize},
		{"exit size", unsafe.Sizeof(e), exitRecordSize},
		{"exit code", unsafe.Offsetof(e.ExitCode), 96},
		{"creds size", unsafe.Sizeof(c), credsRecordSize},
		{"creds old", unsafe.Offsetof(c.Old), 96},
		{"creds syscall", unsafe.Offsetof(c.SyscallId), 128},
		{"file data", unsafe.Offsetof(f.Data), fileFixedSize},
		{"file ret", unsafe.Offsetof(f.Ret), 96},
		{"file syscall", unsafe.Offsetof(f.SyscallId), 104},
		{"file op", unsafe.Offsetof(f.Op), 108},
		{"file open flags", unsafe.Offsetof(f.OpenFlags), 112},
		{"file at flags", unsafe.Offsetof(f.AtFlags), 116},
		{"file mode", unsafe.Offsetof(f.Mode), 120},
		{"file uid", unsafe.Offsetof(f.Uid), 124},
		{"file gid", unsafe.Offsetof(f.Gid), 128},
		{"file str1_len", unsafe.Offsetof(f.Str1Len), 132},
		{"file walk2_len", unsafe.Offsetof(f.Walk2Len), 138},
		{"file origin1", unsafe.Offsetof(f.Origin1), fileOrigin1},
		{"file origin2", unsafe.Offsetof(f.Origin2), fileOrigin2},
		{"origin len", unsafe.Offsetof(f.Origin1.Len), 4},
		{"sock size", unsafe.Sizeof(k), sockRecordSize},
		{"sock ret", unsafe.Offsetof(k.Ret), 96},
		{"sock op", unsafe.Offsetof(k.Op), 108},
		{"sock family", unsafe.Offsetof(k.Family), 112},
		{"sock protocol", unsafe.Offsetof(k.Protocol), 116},
		{"sock local port", unsafe.Offsetof(k.LocalPort), 118},
		{"sock remote unix len", unsafe.Offsetof(k.RemoteUnixLen), 124},
		{"sock local addr", unsafe.Offsetof(k.LocalAddr), 128},
		{"sock remote addr", unsafe.Offsetof(k.RemoteAddr), 144},
		{"sock local unix", unsafe.Offsetof(k.LocalUnix), 160},
		{"sock remote unix", unsafe.Offsetof(k.RemoteUnix), 288},
		{"comm length", unsafe.Sizeof(h.Task.Comm), commLen},
		{"tty length", unsafe.Sizeof(x.Tty), ttyLen},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: generated layout has %d, decoder uses %d", tc.name, tc.got, tc.want)
		}
	}
}

// execBytes builds an exec record the way the kernel writes it: only the
// used part of data is sent.
func execBytes(t testing.TB, flags uint32, args, exe, cwd, cg []byte) []byte {
	t.Helper()
	return foreignExecBytes(t, flags, args, exe, nil, cwd, nil, cg)
}

// foreignExecBytes is execBytes with the executable's and cwd's paths within
// their file systems (struct walk_origin), for walks that ended in another
// mount tree; device 254:0 for the executable, 0:40 for the cwd.
func foreignExecBytes(t testing.TB, flags uint32, args, exe, exeFS, cwd, cwdFS, cg []byte) []byte {
	t.Helper()
	var r sensorExecRecord
	r.Hdr.Type = uint32(sensorRecordTypeRECORD_EXEC)
	r.Hdr.Flags = flags
	r.Hdr.Task.Ktime = 2_000_000_000
	r.Hdr.Task.StartTime = 1_500_000_000
	r.Hdr.Task.Pid = 4242
	r.Hdr.Task.Tid = 4242
	r.Hdr.Task.Ppid = 1
	r.Hdr.Task.Loginuid = 1000
	r.Hdr.Task.Creds = sensorCredIds{Uid: 1000, Euid: 0, Suid: 0, Fsuid: 0, Gid: 100, Egid: 100, Sgid: 100, Fsgid: 100}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&r.Hdr.Task.Comm[0])), 16), "sudo")
	r.ParentStartTime = 1_000_000_000
	r.Sid, r.Pgid, r.Argc = 77, 4242, 3
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&r.Tty[0])), 32), "pts3")
	r.ArgsLen, r.ExeLen, r.CwdLen, r.CgroupLen = uint16(len(args)), uint16(len(exe)), uint16(len(cwd)), uint16(len(cg))
	r.ExeOrigin.Len, r.CwdOrigin.Len = uint16(len(exeFS)), uint16(len(cwdFS))
	if flags&flagExeForeign != 0 {
		r.ExeOrigin.Dev = devOverlay
	}
	if flags&flagCwdForeign != 0 {
		r.CwdOrigin.Dev = devRoot
	}
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, &r); err != nil {
		t.Fatal(err)
	}
	for _, part := range [][]byte{args, exe, exeFS, cwd, cwdFS, cg} {
		buf.Write(part)
	}
	return buf.Bytes()
}

var testClock = bootClock{bootWall: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}

// testDecode decodes b with a decoder of its own.
func testDecode(b []byte) (record, error) {
	d := decoder{clock: testClock}
	return d.decode(b)
}

func TestDecodeExec(t *testing.T) {
	b := execBytes(t, flagTTY|flagLoginUID,
		[]byte("/usr/bin/sudo\x00-u\x00a b\nc\xff\x00"),
		[]byte("sudo\x00bin\x00usr\x00"),
		[]byte("ho me\x00root\x00"),
		[]byte("session-3.scope\x00user-0.slice\x00user.slice\x00"))
	r, err := testDecode(b)
	if err != nil {
		t.Fatal(err)
	}
	ev := r.ev
	if ev.Kind != event.KindExec || ev.Process.PID != 4242 || ev.Process.ParentPID != 1 {
		t.Fatalf("identity: %+v", ev.Process)
	}
	if want := testClock.bootWall.Add(2 * time.Second); !ev.Time.Equal(want) {
		t.Errorf("time %s, want %s", ev.Time, want)
	}
	if want := testClock.bootWall.Add(1500 * time.Millisecond); !ev.Process.StartTime.Equal(want) {
		t.Errorf("start %s, want %s", ev.Process.StartTime, want)
	}
	if r.start != 1_500_000_000 || r.parentStart != 1_000_000_000 {
		t.Errorf("start %d parent start %d", r.start, r.parentStart)
	}
	if got, want := ev.Exec.Args, []string{"/usr/bin/sudo", "-u", "a b\nc\xff"}; !slices.Equal(got, want) {
		t.Errorf("args %q, want %q", got, want)
	}
	if ev.Process.ExecutablePath != "/usr/bin/sudo" || ev.Exec.WorkingDirectory != "/root/ho me" {
		t.Errorf("exe %q cwd %q", ev.Process.ExecutablePath, ev.Exec.WorkingDirectory)
	}
	if ev.Process.CgroupPath != "/user.slice/user-0.slice/session-3.scope" {
		t.Errorf("cgroup %q", ev.Process.CgroupPath)
	}
	if !ev.Exec.Interactive || ev.Exec.TTY != "pts/3" || ev.Exec.SessionLeaderPID != 77 || ev.Exec.GroupLeaderPID != 4242 || ev.Exec.ArgsCount != 3 {
		t.Errorf("exec %+v", *ev.Exec)
	}
	if c := ev.Process.Credentials; c.UID != 1000 || c.EUID != 0 || c.GID != 100 || ev.Process.LoginUID != 1000 || ev.Process.Comm != "sudo" {
		t.Errorf("creds %+v loginuid %d comm %q", *c, ev.Process.LoginUID, ev.Process.Comm)
	}
	if len(ev.Truncated) != 0 {
		t.Errorf("truncated %v", ev.Truncated)
	}
}

func TestDecodeExecEdges(t *testing.T) {
	for _, tc := range []struct {
		name      string
		flags     uint32
		args, exe []byte
		wantArgs  []string
		wantExe   string
		truncated []string
	}{
		{"empty argv", 0, nil, []byte("x\x00"), []string{}, "/x", nil},
		{"empty arguments kept", 0, []byte("a\x00\x00b\x00\x00"), []byte("x\x00"), []string{"a", "", "b", ""}, "/x", nil},
		{"argv cut", flagArgsTruncated, []byte("a\x00bc"), []byte("x\x00"), []string{"a", "bc"}, "/x", []string{event.AttrCommandArgs}},
		{"argv unreadable", flagArgsFault, nil, []byte("x\x00"), nil, "/x", nil},
		{"path cut", flagExeTruncated, nil, []byte("c\x00b\x00"), []string{}, "b/c", []string{event.AttrExecutablePath}},
		{"component cut mid-name", 0, nil, []byte("c\x00b"), []string{}, "c", []string{event.AttrExecutablePath}},
		{"deleted", flagExeDeleted, nil, []byte("x\x00tmp\x00"), []string{}, "/tmp/x (deleted)", nil},
		{"memfd", flagExeDeleted | flagExeDisconnected, nil, []byte("memfd:run\x00"), []string{}, "/memfd:run (deleted)", nil},
		{"detached tree", flagExeDisconnected, nil, []byte("x\x00d\x00"), []string{}, "d/x", []string{event.AttrExecutablePath}},
		{"root itself", 0, nil, nil, []string{}, "/", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := testDecode(execBytes(t, tc.flags, tc.args, tc.exe, nil, nil))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(r.ev.Exec.Args, tc.wantArgs) || (r.ev.Exec.Args == nil) != (tc.wantArgs == nil) {
				t.Errorf("args %q, want %q", r.ev.Exec.Args, tc.wantArgs)
			}
			if r.ev.Process.ExecutablePath != tc.wantExe {
				t.Errorf("exe %q, want %q", r.ev.Process.ExecutablePath, tc.wantExe)
			}
			if !slices.Equal(r.ev.Truncated, tc.truncated) {
				t.Errorf("truncated %v, want %v", r.ev.Truncated, tc.truncated)
			}
		})
	}
}

func TestDecodeExitStatus(t *testing.T) {
	for _, tc := range []struct {
		status       uint32
		code, signal int
		core         bool
	}{
		{0, 0, 0, false},
		{3 << 8, 3, 0, false},
		{255 << 8, 255, 0, false},
		{9, 0, 9, false},
		{11 | 0x80, 0, 11, true},
	} {
		var r sensorExitRecord
		r.Hdr.Type = uint32(sensorRecordTypeRECORD_EXIT)
		r.ExitCode = tc.status
		var buf bytes.Buffer
		binary.Write(&buf, binary.LittleEndian, &r)
		d, err := testDecode(buf.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if x := d.ev.Exit; x.Code != tc.code || x.Signal != tc.signal || x.CoreDumped != tc.core {
			t.Errorf("status %#x: %+v", tc.status, *x)
		}
	}
}

func TestDecodeRejectsMalformed(t *testing.T) {
	good := execBytes(t, 0, []byte("a\x00"), []byte("x\x00"), nil, nil)
	lying := bytes.Clone(good)
	binary.LittleEndian.PutUint16(lying[116:], 60000) // args_len beyond the record
	unknown := bytes.Clone(good)
	unknown[0] = 99
	for name, b := range map[string][]byte{
		"empty":            nil,
		"short header":     good[:headerSize-1],
		"short exec":       good[:execFixedSize-1],
		"lengths too long": lying,
		"unknown type":     unknown,
		"short exit":       append(bytes.Clone(good[:headerSize]), 0)[:headerSize],
	} {
		if name == "short exit" {
			b[0] = byte(sensorRecordTypeRECORD_EXIT)
		}
		if _, err := testDecode(b); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

// No input makes the decoder panic, nothing it returns is larger than the
// input could justify, and the comm is the record's.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(execBytes(f, flagTTY, []byte("/bin/ls\x00-l\x00"), []byte("ls\x00bin\x00"), []byte("tmp\x00"), []byte("x.scope\x00")))
	f.Add(execBytes(f, flagArgsTruncated|flagExeDisconnected, []byte("a\x00b"), []byte("memfd:x\x00"), nil, nil))
	var e sensorExitRecord
	e.Hdr.Type = uint32(sensorRecordTypeRECORD_EXIT)
	var buf bytes.Buffer
	binary.Write(&buf, binary.LittleEndian, &e)
	f.Add(buf.Bytes())
	var c sensorCredsRecord
	c.Hdr.Type = uint32(sensorRecordTypeRECORD_CREDS)
	buf.Reset()
	binary.Write(&buf, binary.LittleEndian, &c)
	f.Add(buf.Bytes())
	f.Add(foreignExecBytes(f, flagExeForeign|flagCwdForeign, nil, []byte("sh\x00"), []byte("sh\x00bin\x00"), []byte("a\x00"), nil, nil))
	f.Add(fileBytes(f, sensorFileOpFILE_OP_RENAME, 82, flagPath1Foreign|flagPath2Foreign|flagPath1Root,
		fileParts{str1: []byte("/a"), str2: []byte("b"), walk2: []byte("d\x00"), fs2: []byte("d\x00"), dev1: devOverlay, dev2: devRoot}))
	// One decoder for every input, whose events are released and reused:
	// nothing of a record may leak into the next one's event, which must
	// be what a fresh decoder makes.
	d := decoder{clock: testClock}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := d.decode(b)
		if err != nil {
			return
		}
		defer r.ev.Release()
		translate(fakeHost{}, r)
		fresh, _ := testDecode(b)
		translate(fakeHost{}, fresh)
		if diff := eventDiff(r.ev, fresh.ev); diff != "" {
			t.Fatalf("the reusing decoder's event differs from a fresh one's in %s", diff)
		}
		if comm := cString(b[80 : 80+commLen]); r.ev.Process.Comm != comm {
			t.Fatalf("comm %q, want %q", r.ev.Process.Comm, comm)
		}
		size := len(r.ev.Process.ExecutablePath) + len(r.ev.Process.CgroupPath) + len(r.ev.Process.Comm)
		if x := r.ev.Exec; x != nil {
			size += len(x.WorkingDirectory) + len(x.TTY)
			for _, a := range x.Args {
				size += len(a)
			}
			if len(x.Args) > len(b) {
				t.Fatalf("%d args from %d bytes", len(x.Args), len(b))
			}
		}
		// Paths gain at most one "/" per component plus " (deleted)".
		if size > 2*len(b)+16 {
			t.Fatalf("decoded %d bytes of strings from a %d-byte record", size, len(b))
		}
	})
}

func TestTTYName(t *testing.T) {
	for in, want := range map[string]string{"pts3": "pts/3", "pts12": "pts/12", "tty1": "tty1", "ttyS0": "ttyS0", "pts": "pts", "ptsx": "ptsx", "": ""} {
		if got := ttyName(in); got != want {
			t.Errorf("ttyName(%q) = %q, want %q", in, got, want)
		}
	}
}

// eventDiff names the first exported field in which a and b differ, or is
// empty.
func eventDiff(a, b *event.Event) string {
	va, vb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	for i := range va.NumField() {
		if f := va.Type().Field(i); f.IsExported() && !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			return fmt.Sprintf("%s: %+v, want %+v", f.Name, va.Field(i), vb.Field(i))
		}
	}
	return ""
}
