package ebpf

import (
	"bytes"
	"encoding/binary"
	"maps"
	"slices"
	"testing"

	"github.com/otel-sensor/otel-sensor/internal/event"
)

// Devices of the fake host below (kernel dev_t: major << 20 | minor).
const (
	devRoot    = 254 << 20 // the host's root file system, mounted at /
	devOverlay = 40        // a container's overlay, mounted at /run/c/rootfs
	devPrivate = 41        // a tmpfs only the container has
)

// fakeHost is a host with the file systems above.
type fakeHost struct{}

func (fakeHost) HostPath(dev uint32, p string) (string, bool) {
	switch dev {
	case devRoot:
		return p, true
	case devOverlay:
		if p == "/" {
			return "/run/c/rootfs", true
		}
		return "/run/c/rootfs" + p, true
	}
	return "", false
}

type fileParts struct {
	str1, walk1, fs1, str2, walk2, fs2 []byte
	dev1, dev2                         uint32
}

// fileBytes builds a file record as the kernel writes it.
func fileBytes(t testing.TB, op sensorFileOp, syscall uint32, flags uint32, p fileParts) []byte {
	t.Helper()
	var r sensorFileRecord
	r.Hdr.Type = uint32(sensorRecordTypeRECORD_FILE)
	r.Hdr.Flags = flags
	r.Hdr.Task.Pid = 7
	r.Op = uint32(op)
	r.SyscallId = syscall
	r.Str1Len, r.Walk1Len, r.Str2Len, r.Walk2Len = uint16(len(p.str1)), uint16(len(p.walk1)), uint16(len(p.str2)), uint16(len(p.walk2))
	r.Origin1.Dev, r.Origin1.Len = p.dev1, uint16(len(p.fs1))
	r.Origin2.Dev, r.Origin2.Len = p.dev2, uint16(len(p.fs2))
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, &r); err != nil {
		t.Fatal(err)
	}
	for _, part := range [][]byte{p.str1, p.walk1, p.fs1, p.str2, p.walk2, p.fs2} {
		buf.Write(part)
	}
	return buf.Bytes()
}

func decodeTranslated(t *testing.T, b []byte) *event.Event {
	t.Helper()
	r, err := testDecode(b)
	if err != nil {
		t.Fatal(err)
	}
	translate(fakeHost{}, r)
	return r.ev
}

func TestForeignExec(t *testing.T) {
	// /bin/sh in the container's overlay, run from /app, a bind mount of
	// the host's /srv/app.
	b := foreignExecBytes(t, flagExeForeign|flagCwdForeign, []byte("sh\x00"),
		[]byte("sh\x00bin\x00"), []byte("sh\x00bin\x00"),
		[]byte("app\x00"), []byte("app\x00srv\x00"), []byte("c.scope\x00"))
	ev := decodeTranslated(t, b)
	want(t, "executable", ev.Process.ExecutablePath, "/run/c/rootfs/bin/sh")
	want(t, "cwd", ev.Exec.WorkingDirectory, "/srv/app")
	wantViews(t, ev, map[string]string{
		event.AttrExecutablePath:   "/bin/sh",
		event.AttrWorkingDirectory: "/app",
	}, nil)
	want(t, "cgroup after the origins", ev.Process.CgroupPath, "/c.scope")

	// A deleted executable keeps its mark in both views.
	b = foreignExecBytes(t, flagExeForeign|flagExeDeleted, nil, []byte("x\x00tmp\x00"), []byte("x\x00tmp\x00"), nil, nil, nil)
	ev = decodeTranslated(t, b)
	want(t, "deleted executable", ev.Process.ExecutablePath, "/run/c/rootfs/tmp/x (deleted)")
	wantViews(t, ev, map[string]string{event.AttrExecutablePath: "/tmp/x (deleted)"}, nil)

	// Not foreign: nothing changes.
	ev = decodeTranslated(t, execBytes(t, 0, nil, []byte("sh\x00bin\x00"), nil, nil))
	want(t, "host executable", ev.Process.ExecutablePath, "/bin/sh")
	wantViews(t, ev, nil, nil)
}

func TestForeignFiles(t *testing.T) {
	const (
		nrOpen, nrRename, nrUnlink, nrLink, nrMkdir, nrChmod = 2, 82, 87, 86, 83, 90
		root                                                 = "/run/c/rootfs"
	)
	p1, p2 := flagPath1Foreign, flagPath2Foreign
	for _, tc := range []struct {
		name      string
		op        sensorFileOp
		syscall   uint32
		flags     uint32
		parts     fileParts
		path      string // file.path
		other     string // previous or source path
		views     map[string]string
		unknown   []string
		truncated []string
	}{
		{"open in the overlay, exact", sensorFileOpFILE_OP_OPEN, nrOpen, flagPath1Exact | p1,
			fileParts{walk1: []byte("f\x00etc\x00"), fs1: []byte("f\x00etc\x00"), dev1: devOverlay},
			root + "/etc/f", "", map[string]string{event.AttrFilePath: "/etc/f"}, nil, nil},
		{"open in a bind mount of the host's /srv/data at /data", sensorFileOpFILE_OP_OPEN, nrOpen, flagPath1Exact | p1,
			fileParts{walk1: []byte("f\x00data\x00"), fs1: []byte("f\x00data\x00srv\x00"), dev1: devRoot},
			"/srv/data/f", "", map[string]string{event.AttrFilePath: "/data/f"}, nil, nil},
		{"open in a tmpfs the host has not mounted", sensorFileOpFILE_OP_OPEN, nrOpen, flagPath1Exact | p1,
			fileParts{walk1: []byte("f\x00run\x00"), fs1: []byte("f\x00"), dev1: devPrivate},
			"/run/f", "", nil, []string{event.AttrFilePath}, nil},
		{"origin not read to the root", sensorFileOpFILE_OP_OPEN, nrOpen, flagPath1Exact | p1,
			fileParts{walk1: []byte("f\x00etc\x00"), fs1: []byte("f\x00"), dev1: 0},
			"/etc/f", "", nil, []string{event.AttrFilePath}, nil},
		{"unlink of a name in the cwd", sensorFileOpFILE_OP_DELETE, nrUnlink, p1,
			fileParts{str1: []byte("x"), walk1: []byte("tmp\x00"), fs1: []byte("tmp\x00"), dev1: devOverlay},
			root + "/tmp/x", "", map[string]string{event.AttrFilePath: "/tmp/x"}, nil, nil},
		{"unlink through a directory may cross a mount", sensorFileOpFILE_OP_DELETE, nrUnlink, p1,
			fileParts{str1: []byte("proc/x"), walk1: nil, fs1: nil, dev1: devOverlay},
			"/proc/x", "", nil, []string{event.AttrFilePath}, nil},
		{"unlink of .. ", sensorFileOpFILE_OP_DELETE, nrUnlink, p1,
			fileParts{str1: []byte(".."), walk1: []byte("tmp\x00"), fs1: []byte("tmp\x00"), dev1: devOverlay},
			"/tmp/..", "", nil, []string{event.AttrFilePath}, nil},
		{"chmod follows its name", sensorFileOpFILE_OP_CHMOD, nrChmod, p1,
			fileParts{str1: []byte("x"), walk1: []byte("tmp\x00"), fs1: []byte("tmp\x00"), dev1: devOverlay},
			"/tmp/x", "", nil, []string{event.AttrFilePath}, nil},
		{"rename of absolute names at the root", sensorFileOpFILE_OP_RENAME, nrRename, p1 | p2 | flagPath1Root | flagPath2Root,
			fileParts{str1: []byte("/a"), dev1: devOverlay, str2: []byte("/b"), dev2: devOverlay},
			root + "/b", root + "/a", map[string]string{event.AttrFilePath: "/b", event.AttrFilePreviousPath: "/a"}, nil, nil},
		{"rename of absolute paths deeper down", sensorFileOpFILE_OP_RENAME, nrRename, p1 | p2 | flagPath1Root | flagPath2Root,
			fileParts{str1: []byte("/tmp/a"), dev1: devOverlay, str2: []byte("/b"), dev2: devOverlay},
			root + "/b", "/tmp/a", map[string]string{event.AttrFilePath: "/b"}, []string{event.AttrFilePreviousPath}, nil},
		{"absolute name in a chroot inside the container", sensorFileOpFILE_OP_MKDIR, nrMkdir, p1 | flagPath1Root,
			fileParts{str1: []byte("/d"), walk1: []byte("jail\x00"), fs1: []byte("jail\x00"), dev1: devRoot},
			"/jail/d", "", nil, nil, nil},
		{"link: the source is followed, the new name is not", sensorFileOpFILE_OP_LINK, nrLink, p1 | p2,
			fileParts{str1: []byte("s"), fs1: nil, dev1: devOverlay, str2: []byte("n"), fs2: nil, dev2: devOverlay},
			root + "/n", "/s", map[string]string{event.AttrFilePath: "/n"}, []string{event.AttrFileSourcePath}, nil},
		{"a name cut short", sensorFileOpFILE_OP_DELETE, nrUnlink, p1 | flagStr1Truncated,
			fileParts{str1: []byte("xx"), fs1: nil, dev1: devOverlay},
			"/xx", "", nil, []string{event.AttrFilePath}, []string{event.AttrFilePath}},
		{"same path for both (a private mount namespace sharing the host's root)", sensorFileOpFILE_OP_DELETE, nrUnlink, p1,
			fileParts{str1: []byte("x"), walk1: []byte("tmp\x00"), fs1: []byte("tmp\x00"), dev1: devRoot},
			"/tmp/x", "", nil, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := decodeTranslated(t, fileBytes(t, tc.op, tc.syscall, tc.flags, tc.parts))
			want(t, "path", ev.File.Path, tc.path)
			other := ev.File.PreviousPath + ev.File.SourcePath
			want(t, "previous/source path", other, tc.other)
			wantViews(t, ev, tc.views, tc.unknown)
			if !slices.Equal(ev.Truncated, tc.truncated) {
				t.Errorf("truncated %v, want %v", ev.Truncated, tc.truncated)
			}
		})
	}
}

// Without a host table (nil), every foreign path is the process's view,
// marked.
func TestForeignWithoutHostTable(t *testing.T) {
	r, err := testDecode(fileBytes(t, sensorFileOpFILE_OP_OPEN, 2, flagPath1Exact|flagPath1Foreign,
		fileParts{walk1: []byte("f\x00"), fs1: []byte("f\x00"), dev1: devOverlay}))
	if err != nil {
		t.Fatal(err)
	}
	translate(nil, r)
	want(t, "path", r.ev.File.Path, "/f")
	wantViews(t, r.ev, nil, []string{event.AttrFilePath})
}

func wantViews(t *testing.T, ev *event.Event, views map[string]string, unknown []string) {
	t.Helper()
	if !maps.Equal(ev.ProcessView, views) {
		t.Errorf("process views %v, want %v", ev.ProcessView, views)
	}
	if !slices.Equal(ev.HostPathUnknown, unknown) {
		t.Errorf("host path unknown %v, want %v", ev.HostPathUnknown, unknown)
	}
}
