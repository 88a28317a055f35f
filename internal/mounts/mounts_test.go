package mounts

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/otel-sensor/otel-sensor/internal/kerneltest"
)

func TestParse(t *testing.T) {
	b, err := os.ReadFile("testdata/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	ms, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 11 {
		t.Fatalf("%d mounts, want 11", len(ms))
	}
	want := Mount{ID: 30, ParentID: 24, Dev: Dev{0, 43}, Root: "/", MountPoint: "/tmp", FSType: "tmpfs", Source: "tmpfs"}
	if ms[8] != want {
		t.Errorf("line 9 = %+v, want %+v (two optional fields)", ms[8], want)
	}
	if m := ms[9]; m.Root != "/home/a b" || m.MountPoint != "/mnt/sp ace" {
		t.Errorf("escapes: root %q mount point %q", m.Root, m.MountPoint)
	}
	if m := ms[0]; m.Dev != (Dev{254, 0}) || m.Source != "/dev/vda" || m.FSType != "ext4" {
		t.Errorf("line 1 = %+v", m)
	}

	for _, bad := range []string{
		"22 1 254:0 / / rw",                          // no separator
		"22 1 254:0 / / rw - ext4",                   // no source
		"x 1 254:0 / / rw - ext4 /dev/vda rw",        // id
		"22 1 2540 / / rw - ext4 /dev/vda rw",        // device
		"22 1 254:0 rel / rw - ext4 /dev/vda rw",     // relative root
		"22 1 254:0 /a\\04 / rw - ext4 /dev/vda rw",  // cut escape
		"22 1 254:0 /a\\999 / rw - ext4 /dev/vda rw", // not octal
		"22 1 254:0 / /x\\777 rw - ext4 /dev/vda rw", // not a byte
	} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}

func TestKernelDev(t *testing.T) {
	if d := KernelDev(254<<20 | 3); d != (Dev{254, 3}) {
		t.Errorf("KernelDev = %v", d)
	}
	if d := KernelDev(0<<20 | 1048575); d != (Dev{0, 1048575}) {
		t.Errorf("KernelDev = %v", d)
	}
}

func testTable(t *testing.T) *Table {
	t.Helper()
	b, err := os.ReadFile("testdata/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	ms, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return NewTable(ms)
}

func TestHostPath(t *testing.T) {
	tab := testTable(t)
	if id, ok := tab.TreeRoot(); !ok || id != 1 {
		t.Errorf("TreeRoot = %d, %v; want 1", id, ok)
	}
	root, overlay := Dev{254, 0}, Dev{0, 40}
	for _, tc := range []struct {
		name string
		dev  Dev
		path string
		want string // "" for none
	}{
		{"root file system", root, "/etc/passwd", "/etc/passwd"},
		{"root of the root file system", root, "/", "/"},
		{"a container's overlay", overlay, "/etc/hosts", "/run/containerd/io.containerd.runtime.v2.task/k8s.io/abc/rootfs/etc/hosts"},
		{"the overlay's root", overlay, "/", "/run/containerd/io.containerd.runtime.v2.task/k8s.io/abc/rootfs"},
		{"hidden under a later mount, shown by a bind mount", root, "/srv/data/f", "/mnt/data/f"},
		{"hidden, and no bind mount shows it", root, "/srv/datax", ""},
		{"inside a self bind mount", root, "/var/lib/x/rootfs/etc/f", "/var/lib/x/rootfs/etc/f"},
		{"under a mount inside the bind mount", root, "/var/lib/x/rootfs/proc/1", ""},
		{"a tmpfs with another stacked on top", Dev{0, 25}, "/f", ""},
		{"the tmpfs on top", Dev{0, 43}, "/f", "/tmp/f"},
		{"whole file system preferred to a bind mount", root, "/home/a b/x", "/home/a b/x"},
		{"a directory above a bind mount's root", root, "/home", "/home"},
		{"a bind mount of a deleted directory", Dev{0, 44}, "/gone/x", ""},
		{"a file system the host has not mounted", Dev{0, 99}, "/x", ""},
		{"relative path", root, "etc/passwd", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tab.HostPath(tc.dev, tc.path)
			if ok != (tc.want != "") || got != tc.want {
				t.Errorf("HostPath(%v, %q) = %q, %v; want %q", tc.dev, tc.path, got, ok, tc.want)
			}
		})
	}
}

// A bind mount is used when the whole file system's mount does not show
// the path.
func TestHostPathBindOnly(t *testing.T) {
	tab := NewTable([]Mount{
		{ID: 2, ParentID: 1, Dev: Dev{8, 1}, Root: "/", MountPoint: "/"},
		{ID: 3, ParentID: 2, Dev: Dev{8, 2}, Root: "/vol", MountPoint: "/data"},
	})
	if got, ok := tab.HostPath(Dev{8, 2}, "/vol/a/b"); !ok || got != "/data/a/b" {
		t.Errorf("got %q, %v", got, ok)
	}
	if _, ok := tab.HostPath(Dev{8, 2}, "/other"); ok {
		t.Error("a path outside the bind mount's root was named")
	}
	if _, ok := NewTable(nil).HostPath(Dev{8, 1}, "/"); ok {
		t.Error("an empty table named a path")
	}
}

// The real host table: a tmpfs mounted while the table is open is found
// (the change is noticed without a miss), and gone once it is unmounted; no
// change, no re-read.
func TestHostFollowsMounts(t *testing.T) {
	kerneltest.Require(t)
	h, err := OpenHost(HostMountInfo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	tab, err := h.Table()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tab.TreeRoot(); !ok {
		t.Fatal("no tree root in the host's table")
	}
	var st unix.Stat_t
	if err := unix.Stat("/", &st); err != nil {
		t.Fatal(err)
	}
	rootDev := unix.Major(st.Dev)<<20 | unix.Minor(st.Dev)
	if got, ok := h.HostPath(uint32(rootDev), "/"); !ok || got != "/" {
		t.Errorf("host root: %q, %v", got, ok)
	}
	reads := h.Reads()
	h.HostPath(uint32(rootDev), "/")
	if h.Reads() != reads {
		t.Errorf("table re-read without a mount change (%d reads, then %d)", reads, h.Reads())
	}

	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("none", dir, "tmpfs", 0, ""); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	mounted := true
	t.Cleanup(func() {
		if mounted {
			unix.Unmount(dir, unix.MNT_DETACH)
		}
	})
	if err := unix.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	dev := uint32(unix.Major(st.Dev)<<20 | unix.Minor(st.Dev))
	if got, ok := h.HostPath(dev, "/x/y"); !ok || got != dir+"/x/y" {
		t.Errorf("new tmpfs: %q, %v; want %q", got, ok, dir+"/x/y")
	}
	if err := unix.Unmount(dir, 0); err != nil {
		t.Fatal(err)
	}
	mounted = false
	if got, ok := h.HostPath(dev, "/x/y"); ok {
		t.Errorf("unmounted tmpfs still named: %q", got)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, ok := h.HostPath(dev, "/"); ok {
		t.Error("closed table answered")
	}
}

func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile("testdata/mountinfo"); err == nil {
		f.Add(b, "/etc/x", uint32(254<<20))
	}
	f.Add([]byte("1 1 0:1 / / rw - x y z\n2 1 0:1 / / rw - x y z\n"), "/", uint32(1))
	f.Fuzz(func(t *testing.T, b []byte, p string, dev uint32) {
		ms, err := Parse(b)
		if err != nil {
			return
		}
		tab := NewTable(ms)
		tab.TreeRoot()
		if got, ok := tab.HostPath(KernelDev(dev), p); ok && got == "" {
			t.Errorf("empty path for %q", p)
		}
	})
}

// A process in a container: its mount table says what each of its mounts
// shows, the host's where the host sees it.
func TestProcessPath(t *testing.T) {
	h, err := OpenHost("testdata/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	container := []byte(`100 99 0:40 / / rw,relatime - overlay overlay rw
101 100 254:0 /srv/data /data rw,relatime - ext4 /dev/vda rw
102 100 0:50 / /private rw,relatime - tmpfs tmpfs rw
`)
	for _, tc := range []struct {
		id   int
		p    string
		want string
	}{
		{100, "/bin/sh", "/run/containerd/io.containerd.runtime.v2.task/k8s.io/abc/rootfs/bin/sh"},
		{101, "/data/x", "/mnt/data/x"},
		{102, "/private/x", ""},
		{999, "/bin/sh", ""},
		{101, "/other/x", ""},
	} {
		got, ok := h.ProcessPath(container, tc.id, tc.p)
		if ok != (tc.want != "") || got != tc.want {
			t.Errorf("ProcessPath(%d, %q) = %q, %v; want %q", tc.id, tc.p, got, ok, tc.want)
		}
	}
	if _, ok := h.ProcessPath([]byte("garbage"), 100, "/bin/sh"); ok {
		t.Error("a path named from a table that does not parse")
	}
	if !h.HostMount(25) || h.HostMount(100) {
		t.Error("HostMount: 25 is the host's, 100 is not")
	}
}

// The cost of naming a host path: one poll(2) and a table lookup.
func BenchmarkHostPath(b *testing.B) {
	h, err := OpenHost(HostMountInfo)
	if err != nil {
		b.Skip(err)
	}
	defer h.Close()
	var st unix.Stat_t
	if err := unix.Stat("/", &st); err != nil {
		b.Fatal(err)
	}
	dev := uint32(unix.Major(st.Dev)<<20 | unix.Minor(st.Dev))
	for b.Loop() {
		if _, ok := h.HostPath(dev, "/var/lib/containers/x/rootfs/etc/app.conf"); !ok {
			b.Fatal("no host path")
		}
	}
}
