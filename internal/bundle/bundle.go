// Package bundle provides what `otel-sensor diagnostic bundle` writes: one
// gzip-compressed tar archive of named parts (Writer), with a MANIFEST that
// lists every part and, for each part that could not be collected, why; and
// the parts that are not the sensor's own reports: the kernel and
// distribution facts (KernelFacts) and the loaded BPF programs and maps with
// their run counts (BPFWindow).
//
// Rules: the archive and every entry in it are mode 0600. The archive is
// written to a temporary file beside its destination and renamed when it is
// complete, so a bundle under its final name is never partial. Parts are
// built without secrets; as a second line of defence, every part is
// scrubbed of the secret values the Writer is given before it is written.
// The package holds no package-level mutable state.
package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ManifestName is the name of the manifest part.
const ManifestName = "MANIFEST"

// minSecret is the shortest secret value scrubbed: shorter ones would
// corrupt unrelated text, and are not worth the name.
const minSecret = 4

// Options configure a Writer.
type Options struct {
	// Dir is the directory the parts are in inside the archive.
	Dir string
	// Header lines start the MANIFEST (what made the bundle, when, where).
	Header []string
	// Secrets are values that must appear in no part; each occurrence is
	// replaced with "<redacted>". Values shorter than 4 bytes are ignored.
	Secrets []string
}

// Part is one entry of the MANIFEST.
type Part struct {
	Name        string
	Description string
	// Missing says why the part could not be collected; empty when it was.
	Missing string
}

// Writer writes a bundle. Add parts, then Close; Abort removes an
// unfinished bundle and is a no-op after Close.
type Writer struct {
	path    string
	opts    Options
	tmp     *os.File
	gz      *gzip.Writer
	tw      *tar.Writer
	now     time.Time
	parts   []Part
	secrets [][]byte
	done    bool
}

// Create starts a bundle that Close writes to path.
func Create(path string, opts Options) (*Writer, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return nil, fmt.Errorf("create bundle: %w", err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("create bundle: %w", err)
	}
	w := &Writer{path: path, opts: opts, tmp: tmp, now: time.Now()}
	w.gz = gzip.NewWriter(tmp)
	w.tw = tar.NewWriter(w.gz)
	for _, s := range opts.Secrets {
		if len(s) >= minSecret {
			w.secrets = append(w.secrets, []byte(s))
		}
	}
	return w, nil
}

// Add writes a part.
func (w *Writer) Add(name, description string, data []byte) error {
	if err := w.write(name, data); err != nil {
		return err
	}
	w.parts = append(w.parts, Part{Name: name, Description: description})
	return nil
}

// AddJSON writes v as an indented JSON part.
func (w *Writer) AddJSON(name, description string, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		w.Skip(name, description, fmt.Errorf("encode: %w", err))
		return nil
	}
	return w.Add(name, description, b.Bytes())
}

// Skip records in the MANIFEST a part that could not be collected, and why.
func (w *Writer) Skip(name, description string, why error) {
	w.parts = append(w.parts, Part{Name: name, Description: description, Missing: why.Error()})
}

// Parts are the parts added or skipped so far.
func (w *Writer) Parts() []Part { return w.parts }

func (w *Writer) write(name string, data []byte) error {
	for _, s := range w.secrets {
		data = bytes.ReplaceAll(data, s, []byte("<redacted>"))
	}
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     w.opts.Dir + "/" + name,
		Mode:     0o600,
		Size:     int64(len(data)),
		ModTime:  w.now,
		Format:   tar.FormatPAX,
	}
	if err := w.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write bundle part %s: %w", name, err)
	}
	if _, err := w.tw.Write(data); err != nil {
		return fmt.Errorf("write bundle part %s: %w", name, err)
	}
	return nil
}

// Manifest is the MANIFEST's text: the header lines, a blank line, then one
// line per part: "collected" or "missing", the part's name and its
// description (for a missing part, with the reason), separated by tabs.
func (w *Writer) Manifest() []byte {
	var b strings.Builder
	for _, h := range w.opts.Header {
		b.WriteString(h + "\n")
	}
	b.WriteString("\n")
	for _, p := range w.parts {
		if p.Missing == "" {
			fmt.Fprintf(&b, "collected\t%s\t%s\n", p.Name, p.Description)
		} else {
			fmt.Fprintf(&b, "missing\t%s\t%s: %s\n", p.Name, p.Description, oneLine(p.Missing))
		}
	}
	return []byte(b.String())
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Close writes the MANIFEST, completes the archive and renames it to its
// path.
func (w *Writer) Close() error {
	if w.done {
		return nil
	}
	err := w.write(ManifestName, w.Manifest())
	if err == nil {
		err = w.tw.Close()
	}
	if err == nil {
		err = w.gz.Close()
	}
	if err == nil {
		err = w.tmp.Sync()
	}
	if cerr := w.tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(w.tmp.Name(), w.path)
	}
	w.done = true
	if err != nil {
		os.Remove(w.tmp.Name())
		return fmt.Errorf("write bundle %s: %w", w.path, err)
	}
	return nil
}

// Abort removes an unfinished bundle.
func (w *Writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.tmp.Close()
	os.Remove(w.tmp.Name())
}
