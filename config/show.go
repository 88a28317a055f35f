package config

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// SourceDefault is the source of a key that no layer set.
const SourceDefault = "default"

// Redacted replaces the value of a secret (an OTLP header) wherever the
// configuration is shown.
const Redacted = "<redacted>"

// Provenance says where the keys of the effective configuration came from:
// dotted key → source, written as the errors write it ("file
// /etc/otel-sensor/config.yaml", "environment variable OTEL_SENSOR_PROVIDER",
// "flag --provider"). Keys that no layer set are absent: they have their
// default. A key set whole (otlp.headers) replaces what was recorded below it.
type Provenance map[string]string

func (p Provenance) record(key, source string) {
	for k := range p {
		if strings.HasPrefix(k, key+".") {
			delete(p, k)
		}
	}
	p[key] = source
}

// Source returns where key's value came from: the layer that set it or the
// map it is in, else the layers that set entries below it, else
// SourceDefault.
func (p Provenance) Source(key string) string {
	for k := key; ; {
		if s, ok := p[k]; ok {
			return s
		}
		i := strings.LastIndexByte(k, '.')
		if i < 0 {
			break
		}
		k = k[:i]
	}
	var below []string
	for k, s := range p {
		if strings.HasPrefix(k, key+".") && !slices.Contains(below, s) {
			below = append(below, s)
		}
	}
	if len(below) == 0 {
		return SourceDefault
	}
	slices.Sort(below)
	return strings.Join(below, ", ")
}

// attribute adds to a validation error the source of the value it is
// about, when a layer set it.
func (p Provenance) attribute(err error) error {
	if err == nil {
		return nil
	}
	var ce *Error
	if !errors.As(err, &ce) || ce.Source != "effective configuration" || ce.Key == "" {
		return err
	}
	key, _, _ := strings.Cut(ce.Key, "[") // exclude.paths[2]
	if s := p.Source(key); s != SourceDefault {
		ce.Source += "; value from " + s
	}
	return err
}

// Reloadable reports whether a running sensor applies a change of key when
// it receives SIGHUP: the exclusions and log.level. Other keys take effect
// at the next start.
func Reloadable(key string) bool {
	return key == "exclude" || strings.HasPrefix(key, "exclude.") || key == "log.level"
}

// Setting is one key of the effective configuration.
type Setting struct {
	Key string `json:"key"`
	// Value is written as a configuration file writes it: durations as
	// text ("100ms"), lists and maps as such, nil for an optional key that
	// is not set. A secret's value is Redacted.
	Value  any    `json:"value"`
	Source string `json:"source"`

	path []string // Key's parts; a header name may contain a dot
}

// Settings returns every key of cfg with its value and where it came from,
// in the order of the schema. A map with entries (otlp.headers) gives one
// setting per entry. Secrets are redacted.
func Settings(cfg Config, prov Provenance) []Setting {
	var out []Setting
	walk(reflect.ValueOf(cfg), nil, func(path []string, v reflect.Value) {
		key := strings.Join(path, ".")
		if v.Kind() != reflect.Map || v.Len() == 0 {
			out = append(out, Setting{Key: key, Value: redact(path, plain(v)), Source: prov.Source(key), path: path})
			return
		}
		names := make([]string, 0, v.Len())
		for _, name := range v.MapKeys() {
			names = append(names, name.String())
		}
		slices.Sort(names)
		for _, name := range names {
			p := append(slices.Clip(path), name)
			k := key + "." + name
			out = append(out, Setting{Key: k, Value: redact(p, plain(v.MapIndex(reflect.ValueOf(name)))), Source: prov.Source(k), path: p})
		}
	})
	return out
}

// Value returns the effective value of key, in the form Settings gives it
// (secrets redacted). A map's key (otlp.headers) gives the whole map, a key
// below it one entry. Errors: an unknown key, a section, an entry that is
// not set.
func (c Config) Value(key string) (any, error) {
	path := strings.Split(key, ".")
	field, entry, err := lookup(reflect.ValueOf(&c).Elem(), path)
	if err != nil {
		return nil, err
	}
	if entry != "" {
		v := field.MapIndex(reflect.ValueOf(entry))
		if !v.IsValid() {
			return nil, errors.New("not set")
		}
		return redact(path, plain(v)), nil
	}
	return redact(path, plain(field)), nil
}

// walk calls leaf for every key of the struct v below path, looking into
// sections and squashed structs.
func walk(v reflect.Value, path []string, leaf func(path []string, v reflect.Value)) {
	t := v.Type()
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("koanf")
		f := v.Field(i)
		switch {
		case tag == ",squash":
			walk(f, path, leaf)
		case tag == "" || tag == "-":
		case f.Kind() == reflect.Struct:
			walk(f, append(slices.Clip(path), tag), leaf)
		default:
			leaf(append(slices.Clip(path), tag), f)
		}
	}
}

// plain converts a configuration value to what a configuration file holds:
// durations as text, structs in lists as maps by their koanf names, nil
// pointers and maps as nil.
func plain(v reflect.Value) any {
	if v.Type() == reflect.TypeFor[time.Duration]() {
		return formatDuration(time.Duration(v.Int()))
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return plain(v.Elem())
	case reflect.Slice:
		out := make([]any, v.Len())
		for i := range out {
			out[i] = plain(v.Index(i))
		}
		return out
	case reflect.Map:
		if v.IsNil() {
			return nil
		}
		out := make(map[string]any, v.Len())
		for it := v.MapRange(); it.Next(); {
			out[it.Key().String()] = plain(it.Value())
		}
		return out
	case reflect.Struct:
		out := map[string]any{}
		walk(v, nil, func(path []string, f reflect.Value) { out[strings.Join(path, ".")] = plain(f) })
		return out
	}
	return v.Interface()
}

// formatDuration writes d as time.Duration does, without the zero units
// it ends with: 1m, 1h, 1m30s, 100ms.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// secret reports whether the key at path holds secrets: OTLP headers
// (otlp.headers, otlp.logs.headers, ... and their entries).
func secret(path []string) bool {
	if len(path) < 2 || path[0] != "otlp" {
		return false
	}
	return slices.ContainsFunc(path[1:], func(p string) bool { return strings.Contains(p, "headers") })
}

// redact hides the value of a secret; a map keeps its entries' names.
func redact(path []string, v any) any {
	if !secret(path) || v == nil {
		return v
	}
	if m, ok := v.(map[string]any); ok {
		out := make(map[string]any, len(m))
		for k := range m {
			out[k] = Redacted
		}
		return out
	}
	return Redacted
}

// YAML writes settings as a configuration file, each value followed by its
// source as a comment. Lists and maps are written in flow style, on the
// line of their key.
func YAML(settings []Setting) ([]byte, error) {
	root := &yaml.Node{Kind: yaml.MappingNode}
	for _, s := range settings {
		m := root
		for _, name := range s.path[:len(s.path)-1] {
			m = section(m, name)
		}
		val := &yaml.Node{}
		if err := val.Encode(s.Value); err != nil {
			return nil, fmt.Errorf("%s: %w", s.Key, err)
		}
		flow(val)
		val.LineComment = s.Source
		key := &yaml.Node{Kind: yaml.ScalarNode, Value: s.path[len(s.path)-1]}
		m.Content = append(m.Content, key, val)
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}}); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// section returns the mapping under name in m, adding it when missing.
func section(m *yaml.Node, name string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == name && m.Content[i+1].Kind == yaml.MappingNode {
			return m.Content[i+1]
		}
	}
	s := &yaml.Node{Kind: yaml.MappingNode}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: name}, s)
	return s
}

func flow(n *yaml.Node) {
	if n.Kind == yaml.SequenceNode || n.Kind == yaml.MappingNode {
		n.Style = yaml.FlowStyle
	}
}
