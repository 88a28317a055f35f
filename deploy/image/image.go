package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"sort"
	"strconv"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Image facts that users, the Kubernetes manifests and the tests rely on.
const (
	// BinaryPath is the sensor in the image; the entrypoint runs it.
	BinaryPath = "/otel-sensor"
	// ConfigPath is where the sensor reads its configuration by default.
	ConfigPath = "/etc/otel-sensor/config.yaml"
	// UID and GID are the image's default user: not root. The sensor needs
	// capabilities that a container runtime grants to a non-root user only
	// as ambient capabilities (deploy/kubernetes/README.md).
	UID = 65532
	GID = 65532
	// UserName names UID in the image's /etc/passwd.
	UserName = "otel-sensor"
)

// Options say what goes into the image.
type Options struct {
	Binary  []byte    // the static otel-sensor binary
	Config  []byte    // the default configuration file
	Version string    // the sensor's version, for labels and the tag
	Created time.Time // image creation time and every file's mtime
	Source  string    // org.opencontainers.image.source
}

// file is one entry of the image's single layer.
type file struct {
	name string
	mode int64
	uid  int
	gid  int
	dir  bool
	data []byte
}

// layerFiles lists the layer's entries: the binary, the configuration, the
// user database and the directories they are in.
func layerFiles(o Options) []file {
	passwd := "root:x:0:0:root:/:/sbin/nologin\n" +
		UserName + ":x:" + strconv.Itoa(UID) + ":" + strconv.Itoa(GID) + ":otel-sensor:/nonexistent:/sbin/nologin\n"
	group := "root:x:0:\n" + UserName + ":x:" + strconv.Itoa(GID) + ":\n"
	return []file{
		{name: "etc", mode: 0o755, dir: true},
		{name: "etc/group", mode: 0o644, data: []byte(group)},
		{name: "etc/otel-sensor", mode: 0o755, dir: true},
		{name: "etc/otel-sensor/config.yaml", mode: 0o644, data: o.Config},
		{name: "etc/passwd", mode: 0o644, data: []byte(passwd)},
		{name: "otel-sensor", mode: 0o755, data: o.Binary},
		{name: "tmp", mode: 0o1777, dir: true},
	}
}

// layerTar writes files as a tar stream that depends on nothing but its
// input: entries sorted by name, fixed times, numeric owners only.
func layerTar(files []file, mtime time.Time) ([]byte, error) {
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{
			Name:    f.name,
			Mode:    f.mode,
			Uid:     f.uid,
			Gid:     f.gid,
			ModTime: mtime,
			Format:  tar.FormatUSTAR,
		}
		if f.dir {
			h.Typeflag, h.Name = tar.TypeDir, f.name+"/"
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("layer: %s: %w", f.name, err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, fmt.Errorf("layer: %s: %w", f.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Build returns the image: one layer on an empty base, OCI media types,
// every time set to o.Created.
func Build(o Options) (v1.Image, error) {
	if len(o.Binary) == 0 {
		return nil, fmt.Errorf("no binary")
	}
	created := o.Created.UTC().Truncate(time.Second)
	raw, err := layerTar(layerFiles(o), created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(raw)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   v1.Time{Time: created},
			CreatedBy: "otel-sensor deploy/image: " + BinaryPath + ", " + ConfigPath + ", /etc/passwd",
			Comment:   "static otel-sensor binary, CGO_ENABLED=0",
		},
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.Created = v1.Time{Time: created}
	cf.Config = v1.Config{
		User:       strconv.Itoa(UID) + ":" + strconv.Itoa(GID),
		Entrypoint: []string{BinaryPath, "run"},
		Env:        []string{"PATH=/"},
		WorkingDir: "/",
		StopSignal: "SIGTERM",
		Labels: map[string]string{
			"org.opencontainers.image.title":       "otel-sensor",
			"org.opencontainers.image.description": "Linux endpoint telemetry as OpenTelemetry events",
			"org.opencontainers.image.version":     o.Version,
			"org.opencontainers.image.source":      o.Source,
			"org.opencontainers.image.created":     created.Format(time.RFC3339),
		},
	}
	return mutate.ConfigFile(img, cf)
}

// WriteArchive writes img as a tar of an OCI image layout (oci-layout,
// index.json, blobs/sha256/...) that also holds a Docker manifest.json, so
// that `podman load`, `skopeo copy oci-archive:...`, `docker load` and
// containerd's `ctr image import` all read it. ref names the image in both
// indexes (e.g. "otel-sensor:1.2.3"). The output depends only on img, ref
// and mtime.
func WriteArchive(w io.Writer, img v1.Image, ref string, mtime time.Time) error {
	type blob struct {
		digest v1.Hash
		data   []byte
	}
	var blobs []blob
	add := func(data []byte) v1.Hash {
		h, _, _ := v1.SHA256(bytes.NewReader(data))
		blobs = append(blobs, blob{h, data})
		return h
	}

	cfg, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	cfgDigest := add(cfg)
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	var layerPaths []string
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		layerPaths = append(layerPaths, blobPath(add(data)))
	}
	manifest, err := img.RawManifest()
	if err != nil {
		return err
	}
	mDigest := add(manifest)
	mType, err := img.MediaType()
	if err != nil {
		return err
	}

	index, err := json.Marshal(v1.IndexManifest{
		SchemaVersion: 2,
		MediaType:     types.OCIImageIndex,
		Manifests: []v1.Descriptor{{
			MediaType:   mType,
			Digest:      mDigest,
			Size:        int64(len(manifest)),
			Annotations: map[string]string{"org.opencontainers.image.ref.name": ref, "io.containerd.image.name": ref},
			Platform:    &v1.Platform{Architecture: "amd64", OS: "linux"},
		}},
	})
	if err != nil {
		return err
	}
	docker, err := json.Marshal([]map[string]any{{
		"Config":   blobPath(cfgDigest),
		"RepoTags": []string{ref},
		"Layers":   layerPaths,
	}})
	if err != nil {
		return err
	}

	files := []file{
		{name: "blobs", mode: 0o755, dir: true},
		{name: "blobs/sha256", mode: 0o755, dir: true},
		{name: "index.json", mode: 0o644, data: index},
		{name: "manifest.json", mode: 0o644, data: docker},
		{name: "oci-layout", mode: 0o644, data: []byte(`{"imageLayoutVersion":"1.0.0"}`)},
	}
	seen := map[v1.Hash]bool{}
	for _, b := range blobs {
		if !seen[b.digest] {
			seen[b.digest] = true
			files = append(files, file{name: blobPath(b.digest), mode: 0o644, data: b.data})
		}
	}
	out, err := layerTar(files, mtime.UTC().Truncate(time.Second))
	if err != nil {
		return err
	}
	_, err = w.Write(out)
	return err
}

func blobPath(h v1.Hash) string { return path.Join("blobs", h.Algorithm, h.Hex) }
