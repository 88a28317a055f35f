// Package config is the sensor's configuration: its schema and defaults,
// loading with precedence defaults < file < environment < flags, where each
// value came from (LoadWithSources, Provenance), the effective
// configuration as it is shown with secrets redacted (Settings, Value,
// YAML), and changing one key of the file (SetInFile).
//
// Rules: an unknown key or a bad value is an error that names the key and
// the source it came from (*Error); the caller exits with status 2. OTLP
// headers are secrets: shown only as Redacted.
package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
)

// DefaultFile is read when no --config is given and it exists.
const DefaultFile = "/etc/otel-sensor/config.yaml"

// EnvPrefix prefixes the environment variables that set keys:
// OTEL_SENSOR_EXPORT__QUEUE_SIZE sets export.queue_size ("__" separates
// levels, a single "_" stays part of the name).
const EnvPrefix = "OTEL_SENSOR_"

// Config is the whole configuration.
type Config struct {
	// Provider is auto, ebpf or netlink.
	Provider string `koanf:"provider"`
	// Output is the file events are written to as OTLP JSON lines;
	// empty means standard output.
	Output string `koanf:"output"`
	EBPF   EBPF   `koanf:"ebpf"`
	File   File   `koanf:"file"`
	Export Export `koanf:"export"`
	OTLP   OTLP   `koanf:"otlp"`
	// Health is the health socket (health.go).
	Health Health `koanf:"health"`
	// Exclude mutes events in the kernel (exclude.go).
	Exclude Exclude `koanf:"exclude"`
	// Log is the sensor's own log (log.go).
	Log Log `koanf:"log"`
}

// EBPF configures the eBPF provider.
type EBPF struct {
	// RingBufferBytes is the kernel→sensor ring buffer size: a power of two,
	// at least 64 KiB.
	RingBufferBytes int `koanf:"ring_buffer_bytes"`
	// PollInterval bounds how long a record waits in the ring buffer.
	PollInterval time.Duration `koanf:"poll_interval"`
}

// File configures the file events (eBPF provider only).
type File struct {
	// Opens says which opens are reported: writes (opened for writing,
	// created or truncated), all, or none.
	Opens string `koanf:"opens"`
	// Failed also reports file operations that failed (EACCES, ENOENT, ...)
	// with the error.
	Failed bool `koanf:"failed"`
}

// Export configures batching and the queue in front of the exporter, and
// where each signal goes.
type Export struct {
	QueueSize       int           `koanf:"queue_size"`
	MaxBatch        int           `koanf:"max_batch"`
	FlushInterval   time.Duration `koanf:"flush_interval"`
	MetricsInterval time.Duration `koanf:"metrics_interval"`
	// LogsExporter and MetricsExporter are auto, otlp, console or none
	// (OTEL_LOGS_EXPORTER, OTEL_METRICS_EXPORTER); Config.LogsExporter and
	// Config.MetricsExporter resolve auto.
	LogsExporter    string `koanf:"logs_exporter"`
	MetricsExporter string `koanf:"metrics_exporter"`
	// PersistentQueue is the OTLP exporters' queue on disk (queue.go).
	PersistentQueue PersistentQueue `koanf:"persistent_queue"`
}

// Default returns the defaults.
func Default() Config {
	return Config{
		Provider: "auto",
		Health:   defaultHealth(),
		Log:      defaultLog(),
		EBPF: EBPF{
			RingBufferBytes: 4 << 20,
			PollInterval:    100 * time.Millisecond,
		},
		File: File{Opens: "writes"},
		Export: Export{
			QueueSize:       8192,
			MaxBatch:        512,
			FlushInterval:   200 * time.Millisecond,
			MetricsInterval: 60 * time.Second,
			LogsExporter:    ExporterAuto,
			MetricsExporter: ExporterAuto,
			PersistentQueue: defaultPersistentQueue(),
		},
		OTLP: OTLP{
			OTLPSettings: OTLPSettings{
				Protocol:    ProtocolGRPC,
				Compression: "none",
				Timeout:     10 * time.Second,
				Insecure:    new(false),
			},
			Retry: Retry{
				Enabled:         true,
				InitialInterval: 5 * time.Second,
				MaxInterval:     30 * time.Second,
				MaxElapsedTime:  5 * time.Minute,
			},
		},
	}
}

// Error is a configuration error naming the key and where it came from.
type Error struct {
	Key    string
	Source string
	Err    error
}

func (e *Error) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("config (%s): %v", e.Source, e.Err)
	}
	return fmt.Sprintf("config key %q (%s): %v", e.Key, e.Source, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Validate checks values; errors name the key.
func (c Config) Validate() error {
	bad := func(key, format string, args ...any) error {
		return &Error{Key: key, Source: "effective configuration", Err: fmt.Errorf(format, args...)}
	}
	if !slices.Contains([]string{"auto", "ebpf", "netlink"}, c.Provider) {
		return bad("provider", "must be auto, ebpf or netlink, not %q", c.Provider)
	}
	if n := c.EBPF.RingBufferBytes; n < 64<<10 || n&(n-1) != 0 {
		return bad("ebpf.ring_buffer_bytes", "must be a power of two of at least 65536, not %d", n)
	}
	if d := c.EBPF.PollInterval; d < time.Millisecond || d > 10*time.Second {
		return bad("ebpf.poll_interval", "must be between 1ms and 10s, not %s", d)
	}
	if !slices.Contains([]string{"writes", "all", "none"}, c.File.Opens) {
		return bad("file.opens", "must be writes, all or none, not %q", c.File.Opens)
	}
	if c.Export.QueueSize < 1 {
		return bad("export.queue_size", "must be at least 1, not %d", c.Export.QueueSize)
	}
	if c.Export.MaxBatch < 1 {
		return bad("export.max_batch", "must be at least 1, not %d", c.Export.MaxBatch)
	}
	if c.Export.FlushInterval <= 0 {
		return bad("export.flush_interval", "must be positive, not %s", c.Export.FlushInterval)
	}
	if c.Export.MetricsInterval < time.Second {
		return bad("export.metrics_interval", "must be at least 1s, not %s", c.Export.MetricsInterval)
	}
	if err := c.Health.validate(); err != nil {
		return err
	}
	if err := c.Exclude.validate(); err != nil {
		return err
	}
	if err := c.Log.validate(); err != nil {
		return err
	}
	if err := c.validateOutputs(); err != nil {
		return err
	}
	return c.validatePersistentQueue()
}

// Sources says where to load from. Zero fields are skipped.
type Sources struct {
	// File is the config file; FileRequired makes a missing file an error
	// (an explicit --config).
	File         string
	FileRequired bool
	// Environ is the environment (os.Environ() form).
	Environ []string
	// Flags are key → value pairs set on the command line, with the flag
	// name for messages.
	Flags []Flag
}

// Flag is one key set by a command-line flag.
type Flag struct {
	Name  string // e.g. "--provider"
	Key   string // e.g. "provider"
	Value any
}

// Load returns the effective configuration: defaults, then the file, then
// the OpenTelemetry SDK's standard environment variables (OTEL_EXPORTER_OTLP_*
// and the others StandardEnv lists), then the OTEL_SENSOR_* variables, then
// the flags, each layer overriding the keys the one before set.
func Load(src Sources) (Config, error) {
	cfg, _, err := LoadWithSources(src)
	return cfg, err
}

// LoadWithSources is Load that also says where each key came from.
func LoadWithSources(src Sources) (Config, Provenance, error) {
	k, err := readFile(src)
	if err != nil {
		return Default(), Provenance{}, err
	}
	return load(src, k)
}

// readFile reads the config file into a koanf; nil when there is none (a
// missing file that is not required).
func readFile(src Sources) (*koanf.Koanf, error) {
	if src.File == "" {
		return nil, nil
	}
	k := koanf.New(".")
	err := k.Load(file.Provider(src.File), yaml.Parser())
	switch {
	case errors.Is(err, os.ErrNotExist) && !src.FileRequired:
		return nil, nil
	case err != nil:
		return nil, &Error{Source: "file " + src.File, Err: err}
	}
	return k, nil
}

// load applies the layers over the defaults: fileKeys (the file's content,
// nil for none), the environment and the flags of src; then validates.
func load(src Sources, fileKeys *koanf.Koanf) (Config, Provenance, error) {
	cfg := Default()
	prov := Provenance{}
	set := func(key string, value any, source string) error {
		if err := apply(&cfg, key, value); err != nil {
			return &Error{Key: key, Source: source, Err: err}
		}
		prov.record(key, source)
		return nil
	}
	if fileKeys != nil {
		for _, key := range fileKeys.Keys() {
			if err := set(key, fileKeys.Get(key), "file "+src.File); err != nil {
				return cfg, prov, err
			}
		}
	}

	if err := applyStandardEnv(src.Environ, set); err != nil {
		return cfg, prov, err
	}

	names := map[string]string{}
	k := koanf.New(".")
	err := k.Load(env.Provider(".", env.Opt{
		Prefix: EnvPrefix,
		TransformFunc: func(name, value string) (string, any) {
			key := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(name, EnvPrefix)), "__", ".")
			names[key] = name
			return key, value
		},
		EnvironFunc: func() []string { return src.Environ },
	}), nil)
	if err != nil {
		return cfg, prov, &Error{Source: "environment", Err: err}
	}
	for _, key := range k.Keys() {
		if err := set(key, k.Get(key), "environment variable "+names[key]); err != nil {
			return cfg, prov, err
		}
	}

	for _, f := range src.Flags {
		if err := set(f.Key, f.Value, "flag "+f.Name); err != nil {
			return cfg, prov, err
		}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, prov, prov.attribute(err)
	}
	return cfg, prov, nil
}

// apply sets one dotted key from a layer onto cfg, rejecting unknown keys
// and values of the wrong type. A map (otlp.headers) given whole replaces
// the map; a key below it ("otlp.headers.authorization") sets one entry.
func apply(cfg *Config, key string, value any) error {
	field, entry, err := lookup(reflect.ValueOf(cfg).Elem(), strings.Split(key, "."))
	if err != nil {
		return err
	}
	target := field
	if entry != "" {
		target = reflect.New(field.Type().Elem()).Elem()
	} else if field.Kind() == reflect.Map {
		field.Set(reflect.Zero(field.Type()))
	}
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
			stringToHeadersHook),
		WeaklyTypedInput: true,
		// Inside lists of sections (exclude.initiators) keys are
		// matched by their koanf names, and unknown ones are errors.
		TagName:     "koanf",
		ErrorUnused: true,
		Result:      target.Addr().Interface(),
	})
	if err != nil {
		return err
	}
	if err := dec.Decode(value); err != nil {
		if inner := errors.Unwrap(err); inner != nil {
			err = inner
		}
		return fmt.Errorf("bad value %v: %w", value, err)
	}
	if entry != "" {
		if field.IsNil() {
			field.Set(reflect.MakeMap(field.Type()))
		}
		field.SetMapIndex(reflect.ValueOf(entry), target)
	}
	return nil
}

// stringToHeadersHook decodes a string into headers the way
// OTEL_EXPORTER_OTLP_HEADERS is written: "k1=v1,k2=v2".
func stringToHeadersHook(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String || to != reflect.TypeFor[map[string]string]() {
		return data, nil
	}
	return ParseHeaders(data.(string))
}

// lookup finds the field of a dotted key. When the key goes below a map,
// entry is the rest of the key: the map entry to set.
func lookup(v reflect.Value, path []string) (field reflect.Value, entry string, err error) {
	for i, name := range path {
		if v.Kind() == reflect.Map && i > 0 {
			return v, strings.Join(path[i:], "."), nil
		}
		if v.Kind() != reflect.Struct {
			return reflect.Value{}, "", fmt.Errorf("unknown key")
		}
		f, ok := fieldByTag(v, name)
		if !ok {
			return reflect.Value{}, "", fmt.Errorf("unknown key")
		}
		v = f
		if i == len(path)-1 && v.Kind() == reflect.Struct {
			return reflect.Value{}, "", fmt.Errorf("is a section, not a value")
		}
	}
	return v, "", nil
}

// fieldByTag returns the field of struct v whose koanf tag is name,
// looking into embedded structs tagged ",squash".
func fieldByTag(v reflect.Value, name string) (reflect.Value, bool) {
	t := v.Type()
	for j := range t.NumField() {
		tag := t.Field(j).Tag.Get("koanf")
		if tag == name {
			return v.Field(j), true
		}
		if tag == ",squash" {
			if f, ok := fieldByTag(v.Field(j), name); ok {
				return f, true
			}
		}
	}
	return reflect.Value{}, false
}
