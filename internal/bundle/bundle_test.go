package bundle

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/otel-sensor/otel-sensor/internal/kerneltest"
	"github.com/otel-sensor/otel-sensor/internal/probes/policy"
)

// readArchive returns the entries of a bundle by name, checking their mode.
func readArchive(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	entries := map[string]string{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return entries
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Mode != 0o600 {
			t.Errorf("%s has mode %#o, want 0600", h.Name, h.Mode)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		entries[h.Name] = string(b)
	}
}

func TestWriter(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "b.tar.gz")
	w, err := Create(path, Options{Dir: "top", Header: []string{"test bundle"}, Secrets: []string{"hunter22", "abc"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("the bundle has its final name before Close")
	}
	w.Add("a.txt", "first part", []byte("password hunter22 here, abc stays"))
	w.AddJSON("b.json", "second part", map[string]any{"token": "hunter22"})
	w.Skip("c.txt", "third part", errors.New("could not\nread it"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w.Abort() // no-op after Close
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("bundle: %v, %v; want mode 0600", fi, err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	e := readArchive(t, path)
	if got := e["top/a.txt"]; got != "password <redacted> here, abc stays" {
		t.Errorf("a.txt = %q: the secret must be scrubbed, a value under 4 bytes not", got)
	}
	var b map[string]string
	if err := json.Unmarshal([]byte(e["top/b.json"]), &b); err != nil || b["token"] != "<redacted>" {
		t.Errorf("b.json = %q (%v)", e["top/b.json"], err)
	}
	want := "test bundle\n\ncollected\ta.txt\tfirst part\ncollected\tb.json\tsecond part\nmissing\tc.txt\tthird part: could not read it\n"
	if got := e["top/"+ManifestName]; got != want {
		t.Errorf("MANIFEST =\n%s\nwant\n%s", got, want)
	}
	if len(e) != 3 {
		t.Errorf("entries %v", e)
	}
}

func TestWriterAbort(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(filepath.Join(dir, "b.tar.gz"), Options{Dir: "x"})
	if err != nil {
		t.Fatal(err)
	}
	w.Add("a", "a", []byte("a"))
	w.Abort()
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("Abort left %v", left)
	}
}

func TestKernelFacts(t *testing.T) {
	f := policy.Gather(policy.Options{})
	k := KernelFacts(f, policy.Evaluate(f))
	if k.Uname.Release == "" || k.Uname.Machine == "" || k.Features["btf"].State == "" || k.Lockdown == "" {
		t.Fatalf("%+v", k)
	}
	if _, err := os.Stat("/proc/cmdline"); err == nil && k.Cmdline == "" {
		t.Error("no cmdline")
	}
}

// A program run 5 times during the window shows 5 runs over the window;
// the maps it uses are listed.
func TestBPFWindowCountsRuns(t *testing.T) {
	kerneltest.Require(t)
	m, err := ebpf.NewMap(&ebpf.MapSpec{Name: "bundle_test", Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "bundle_test", Type: ebpf.SocketFilter, License: "GPL",
		Instructions: asm.Instructions{
			asm.LoadMapPtr(asm.R1, m.FD()), // reference the map
			asm.LoadImm(asm.R0, 0, asm.DWord),
			asm.Return(),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	info, _ := prog.Info()
	id, _ := info.ID()

	b, err := BPFWindow(func() {
		for range 5 {
			if _, err := prog.Run(&ebpf.RunOptions{Data: make([]byte, 14)}); err != nil {
				t.Error(err)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.Stats, "enabled") {
		t.Fatalf("stats: %s", b.Stats)
	}
	var found *BPFProgram
	for i := range b.Programs {
		if b.Programs[i].ID == uint32(id) {
			found = &b.Programs[i]
		}
	}
	if found == nil {
		t.Fatalf("program %d not listed among %d", id, len(b.Programs))
	}
	if found.Name != "bundle_test" || found.Type != "SocketFilter" || found.WindowRunCount == nil || *found.WindowRunCount != 5 || found.LoadedDuringWindow {
		t.Fatalf("listed as %+v (window runs %v)", *found, found.WindowRunCount)
	}
	if len(found.MapIDs) != 1 {
		t.Errorf("map ids %v", found.MapIDs)
	}
	var mapFound bool
	for _, mp := range b.Maps {
		mapFound = mapFound || (mp.Name == "bundle_test" && mp.Type == "Array" && mp.ValueSize == 8 && len(found.MapIDs) == 1 && mp.ID == found.MapIDs[0])
	}
	if !mapFound {
		t.Errorf("map bundle_test not listed")
	}
}
