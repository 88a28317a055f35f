package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// buildSensor builds the static sensor binary as `make build` does.
func buildSensor(t *testing.T, version string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "otel-sensor")
	cmd := exec.Command("go", "build", "-trimpath",
		"-ldflags", "-X github.com/otel-sensor/otel-sensor/internal/version.Version="+version,
		"-o", bin, "../../cmd/otel-sensor")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// makeImage runs the command as `make image` does and returns the tar.
func makeImage(t *testing.T, bin, version, epoch string) []byte {
	t.Helper()
	t.Setenv("SOURCE_DATE_EPOCH", epoch)
	out := filepath.Join(t.TempDir(), "image.tar")
	if err := run([]string{"-binary", bin, "-config", "../../config/example.yaml", "-out", out, "-version", version}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// untar unpacks an archive into a new directory.
func untar(t *testing.T, archive []byte) string {
	t.Helper()
	dir := t.TempDir()
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return dir
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(p, dir+string(filepath.Separator)) {
			t.Fatalf("entry %q escapes the archive", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, 0o755)
		case tar.TypeReg:
			var b []byte
			if b, err = io.ReadAll(tr); err == nil {
				err = os.WriteFile(p, b, 0o644)
			}
		default:
			t.Fatalf("unexpected entry type %q for %s", h.Typeflag, h.Name)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// entry is a file of the image's root file system.
type entry struct {
	*tar.Header
	data string
}

// rootfs returns the image's files by path.
func rootfs(t *testing.T, img v1.Image) map[string]entry {
	t.Helper()
	files := map[string]entry{}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files["/"+strings.TrimSuffix(h.Name, "/")] = entry{h, string(b)}
	}
}

func TestImage(t *testing.T) {
	const version = "9.8.7-test"
	bin := buildSensor(t, version)
	archive := makeImage(t, bin, version, "")

	// The archive is an OCI image layout that go-containerregistry reads.
	dir := untar(t, archive)
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "otel-sensor:"+version {
		t.Fatalf("index: %+v", im.Manifests)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	if mt, _ := img.MediaType(); mt != types.OCIManifestSchema1 {
		t.Errorf("manifest media type %s, want OCI", mt)
	}

	// Config: non-root numeric user, entrypoint, environment, fixed time.
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if c.User != "65532:65532" {
		t.Errorf("User = %q, want a numeric non-root 65532:65532", c.User)
	}
	if !slices.Equal(c.Entrypoint, []string{"/otel-sensor", "run"}) || len(c.Cmd) != 0 {
		t.Errorf("Entrypoint %q Cmd %q, want [/otel-sensor run] and no Cmd", c.Entrypoint, c.Cmd)
	}
	if !slices.Equal(c.Env, []string{"PATH=/"}) {
		t.Errorf("Env = %q", c.Env)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
	}
	if !cf.Created.Time.Equal(time.Unix(0, 0)) || c.Labels["org.opencontainers.image.version"] != version {
		t.Errorf("created %v, version label %q", cf.Created.Time, c.Labels["org.opencontainers.image.version"])
	}

	// Files: the binary, the configuration, the user.
	files := rootfs(t, img)
	exe, ok := files["/otel-sensor"]
	if !ok || exe.Typeflag != tar.TypeReg || exe.Mode&0o777 != 0o755 || exe.Uid != 0 {
		t.Fatalf("/otel-sensor: %+v", exe.Header)
	}
	example, err := os.ReadFile("../../config/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if files["/etc/otel-sensor/config.yaml"].data != string(example) {
		t.Errorf("/etc/otel-sensor/config.yaml is not config/example.yaml")
	}
	if !strings.Contains(files["/etc/passwd"].data, "otel-sensor:x:65532:65532:") {
		t.Errorf("/etc/passwd does not name uid 65532")
	}
	for name, h := range files {
		if !h.ModTime.Equal(time.Unix(0, 0)) {
			t.Errorf("%s: mtime %v, want SOURCE_DATE_EPOCH", name, h.ModTime)
		}
	}

	// The binary from the image runs.
	extracted := filepath.Join(t.TempDir(), "otel-sensor")
	if err := os.WriteFile(extracted, []byte(exe.data), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(extracted, "version").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "otel-sensor "+version {
		t.Fatalf("otel-sensor version from the image: %v: %q", err, out)
	}
	// It is static: no interpreter to load it.
	if b, _ := os.ReadFile(extracted); bytes.Contains(b, []byte("/lib64/ld-linux")) {
		t.Error("the binary names a dynamic loader: not static")
	}

	// docker load's manifest.json names blobs that are in the archive.
	var docker []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &docker); err != nil || len(docker) != 1 {
		t.Fatalf("manifest.json: %v %s", err, b)
	}
	for _, p := range append([]string{docker[0].Config}, docker[0].Layers...) {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("manifest.json names %s: %v", p, err)
		}
	}

	// Reproducible: the same inputs give the same bytes; the time is the
	// only other input.
	if again := makeImage(t, bin, version, ""); !bytes.Equal(again, archive) {
		t.Error("two builds from the same binary differ")
	}
	if later := makeImage(t, bin, version, "1700000000"); bytes.Equal(later, archive) {
		t.Error("SOURCE_DATE_EPOCH does not change the image")
	}
}

func TestSourceDateEpoch(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"", 0, true},
		{"0", 0, true},
		{"1700000000", 1700000000, true},
		{"-1", 0, false},
		{"yesterday", 0, false},
	} {
		got, err := sourceDateEpoch(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got.Unix() != tc.want) {
			t.Errorf("sourceDateEpoch(%q) = %v, %v", tc.in, got, err)
		}
	}
}
