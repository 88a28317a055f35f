package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"time"

	"github.com/knadh/koanf/v2"
	"go.yaml.in/yaml/v3"
)

// SourceSet is the source of a value given to `config set`.
const SourceSet = "config set"

// SetInFile sets key to value in the configuration file src.File and
// keeps the file's other keys. The file is rewritten from its parsed
// content: its comments and layout are not kept. value is what a YAML
// parser makes of the command line's text ("[openat]" is a list; a single
// value given to a list key is a list of one).
//
// Before anything is written, the configuration the change makes —
// defaults, the changed file, then src.Environ and src.Flags — is loaded and
// validated as Load does; an error names the key and its source (SourceSet
// for key itself) and nothing is written. A missing file is created 0600,
// with its directory (0755); an existing one keeps its mode and owner and is
// replaced atomically. check, when not nil, is a further check of the
// resulting configuration that the caller can make and this package cannot
// (that exclude.syscalls names hooked syscalls). SetInFile returns the
// effective configuration and its provenance after the change.
func SetInFile(src Sources, key string, value any, check func(Config) error) (Config, Provenance, error) {
	if src.File == "" {
		return Config{}, nil, errors.New("config set: no configuration file")
	}
	stored, err := fileValue(key, value)
	if err != nil {
		return Config{}, nil, &Error{Key: key, Source: SourceSet, Err: err}
	}
	k, err := readFile(Sources{File: src.File})
	if err != nil {
		return Config{}, nil, err
	}
	if k == nil {
		k = koanf.New(".")
	}
	k.Delete(key) // a list or map given whole replaces the old one
	if err := k.Set(key, stored); err != nil {
		return Config{}, nil, &Error{Key: key, Source: SourceSet, Err: err}
	}
	cfg, prov, err := load(src, k)
	if err == nil && check != nil {
		err = prov.attribute(check(cfg))
	}
	if err != nil {
		var ce *Error
		if errors.As(err, &ce) && (ce.Key == key || strings.HasPrefix(ce.Key, key+"[") || strings.HasPrefix(ce.Key, key+".")) {
			ce.Source = SourceSet
		}
		return cfg, prov, err
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(k.Raw()); err != nil {
		return cfg, prov, fmt.Errorf("config set: encode %s: %w", src.File, err)
	}
	if err := replaceFile(src.File, b.Bytes()); err != nil {
		return cfg, prov, fmt.Errorf("config set: %w", err)
	}
	return cfg, prov, nil
}

// fileValue checks value for key and returns what the file is to hold:
// the value as applied, in the form Settings gives (a list for a list key,
// headers given as "k=v,..." as a map), except that a duration keeps the
// text it was given.
func fileValue(key string, value any) (any, error) {
	cfg := Default()
	if err := apply(&cfg, key, value); err != nil {
		return nil, err
	}
	field, entry, err := lookup(reflect.ValueOf(&cfg).Elem(), strings.Split(key, "."))
	if err != nil {
		return nil, err
	}
	if entry != "" {
		return plain(field.MapIndex(reflect.ValueOf(entry))), nil
	}
	if s, ok := value.(string); ok && field.Type() == reflect.TypeFor[time.Duration]() {
		return s, nil
	}
	return plain(field), nil
}

// replaceFile writes data to path through a temporary file renamed over
// it, keeping an existing file's mode and owner; a new file is 0600. A
// symbolic link is followed: its target is replaced.
func replaceFile(path string, data []byte) (err error) {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	mode, uid, gid := fs.FileMode(0o600), -1, -1
	switch fi, err := os.Stat(path); {
	case err == nil:
		mode = fi.Mode().Perm()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(st.Uid), int(st.Gid)
		}
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
	default:
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(mode); err != nil {
		return err
	}
	if uid >= 0 && (uid != os.Geteuid() || gid != os.Getegid()) {
		if err := tmp.Chown(uid, gid); err != nil {
			return fmt.Errorf("keep the owner of %s: %w", path, err)
		}
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
