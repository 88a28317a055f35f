// Command image builds the otel-sensor container image without a container
// engine: one layer holding the static binary, the default configuration
// and a user database, on an empty base, written as an OCI image layout in
// a tar (with a Docker manifest.json beside it). `make image` runs it.
//
// The image is reproducible: every time in it is SOURCE_DATE_EPOCH (0 when
// unset), entries are sorted and owned by numbers, so the same binary and
// configuration give the same bytes and the same digest.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	binary := fs.String("binary", "bin/otel-sensor", "static otel-sensor binary (CGO_ENABLED=0)")
	config := fs.String("config", "config/example.yaml", "configuration installed at "+ConfigPath)
	out := fs.String("out", "bin/otel-sensor-image.tar", "OCI image layout tar to write")
	version := fs.String("version", "dev", "version: the image's label and tag")
	repo := fs.String("repository", "otel-sensor", "repository name of the tag")
	source := fs.String("source", "https://github.com/otel-sensor/otel-sensor", "org.opencontainers.image.source label")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	created, err := sourceDateEpoch(os.Getenv("SOURCE_DATE_EPOCH"))
	if err != nil {
		return err
	}
	bin, err := os.ReadFile(*binary)
	if err != nil {
		return err
	}
	cfg, err := os.ReadFile(*config)
	if err != nil {
		return err
	}
	img, err := Build(Options{Binary: bin, Config: cfg, Version: *version, Created: created, Source: *source})
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := WriteArchive(&buf, img, *repo+":"+*version, created); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("%s: %s:%s %s\n", *out, *repo, *version, digest)
	return nil
}

// sourceDateEpoch parses SOURCE_DATE_EPOCH (reproducible-builds.org): Unix
// seconds; empty means the epoch itself.
func sourceDateEpoch(v string) (time.Time, error) {
	if v == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	s, err := strconv.ParseInt(v, 10, 64)
	if err != nil || s < 0 {
		return time.Time{}, errors.New("SOURCE_DATE_EPOCH: want non-negative Unix seconds, not " + strconv.Quote(v))
	}
	return time.Unix(s, 0).UTC(), nil
}
