package export

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"golang.org/x/sys/unix"

	"github.com/otel-sensor/otel-sensor/internal/osrelease"
)

// DefaultServiceName is service.name unless OTEL_SERVICE_NAME or
// OTEL_RESOURCE_ATTRIBUTES say otherwise.
const DefaultServiceName = "otel-sensor"

// The environment variables DetectResource reads, as the OpenTelemetry
// specification defines them.
const (
	EnvResourceAttributes = "OTEL_RESOURCE_ATTRIBUTES"
	EnvServiceName        = "OTEL_SERVICE_NAME"
)

// instanceNamespace is the UUID namespace the semantic conventions give for
// a service.instance.id derived (UUID v5) from an inherent unique id.
const instanceNamespace = "4d63009a-8d0f-11ee-aad7-4c796ed8e320"

// Resource is the sensor's OpenTelemetry resource: the attributes that say
// which sensor on which host produced the data. Once built it is read-only:
// a Pipeline reads it from several goroutines.
type Resource struct {
	// Version is the sensor's version, exported as the instrumentation
	// scope version (and as service.version unless overridden).
	Version string
	// Attributes in export order, keys unique.
	Attributes []Attribute
}

// Attribute is one string resource attribute.
type Attribute struct {
	Key, Value string
}

// Value returns the value of the attribute key and whether it is set.
func (r Resource) Value(key string) (string, bool) {
	for _, a := range r.Attributes {
		if a.Key == key {
			return a.Value, true
		}
	}
	return "", false
}

// set replaces the value of key, or appends it when absent.
func (r *Resource) set(key, value string) {
	for i := range r.Attributes {
		if r.Attributes[i].Key == key {
			r.Attributes[i].Value = value
			return
		}
	}
	r.Attributes = append(r.Attributes, Attribute{Key: key, Value: value})
}

// copyTo writes the attributes into dest. Values that are not valid UTF-8
// (a hostname or os-release field can hold anything) are made valid.
func (r Resource) copyTo(dest pcommon.Resource) {
	m := dest.Attributes()
	m.EnsureCapacity(len(r.Attributes))
	for _, a := range r.Attributes {
		v := a.Value
		if !utf8.ValidString(v) {
			v = validUTF8(v)
		}
		m.PutStr(a.Key, v)
	}
}

// ResourceOptions are the inputs of DetectResource. The zero value of each
// field means the real system: tests inject their own.
type ResourceOptions struct {
	// Version is the sensor's version (service.version).
	Version string
	// Provider is the active provider (sensor.provider): "ebpf" or "netlink".
	Provider string
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(key string) string
	// MachineIDPath is the file holding host.id; "" means /etc/machine-id.
	MachineIDPath string
	// OSReleasePaths are tried in order for os.name and os.description;
	// nil means /etc/os-release, then /usr/lib/os-release (os-release(5)).
	OSReleasePaths []string
}

// DetectResource gathers the sensor's resource from the host and the
// environment. Detected values: service.name, service.version,
// service.instance.id, host.name, host.id, host.arch, os.type, os.version,
// os.name, os.description and sensor.provider; a value that cannot be
// detected is left out. OTEL_RESOURCE_ATTRIBUTES then overrides or adds
// attributes, and OTEL_SERVICE_NAME overrides service.name. Unless set
// explicitly, service.instance.id is a UUID v5 of host.id and service.name,
// stable across restarts, or a random UUID v4 when host.id is unknown.
//
// The only error is a malformed OTEL_RESOURCE_ATTRIBUTES.
func DetectResource(opts ResourceOptions) (Resource, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	machineID := opts.MachineIDPath
	if machineID == "" {
		machineID = "/etc/machine-id"
	}
	osRelease := opts.OSReleasePaths
	if osRelease == nil {
		osRelease = osrelease.Files
	}

	res := Resource{Version: opts.Version}
	setIf := func(key, value string) {
		if value != "" {
			res.set(key, value)
		}
	}
	res.set("service.name", DefaultServiceName)
	setIf("service.version", opts.Version)
	if name, err := os.Hostname(); err == nil {
		setIf("host.name", name)
	}
	setIf("host.id", readMachineID(machineID))
	setIf("host.arch", hostArch(runtime.GOARCH))
	res.set("os.type", "linux")
	setIf("os.version", kernelRelease())
	if rel, err := readOSRelease(osRelease); err == nil {
		setIf("os.name", rel["NAME"])
		setIf("os.description", rel["PRETTY_NAME"])
	}
	setIf("sensor.provider", opts.Provider)

	env, err := parseResourceAttributes(getenv(EnvResourceAttributes))
	if err != nil {
		return Resource{}, err
	}
	for _, a := range env {
		res.set(a.Key, a.Value)
	}
	setIf("service.name", strings.TrimSpace(getenv(EnvServiceName)))

	if _, ok := res.Value("service.instance.id"); !ok {
		res.set("service.instance.id", instanceID(res))
	}
	return res, nil
}

// instanceID derives service.instance.id from host.id and service.name.
func instanceID(res Resource) string {
	hostID, ok := res.Value("host.id")
	if !ok || hostID == "" {
		return uuid.NewString()
	}
	service, _ := res.Value("service.name")
	return uuid.NewSHA1(uuid.MustParse(instanceNamespace), []byte(hostID+"."+service)).String()
}

// parseResourceAttributes parses OTEL_RESOURCE_ATTRIBUTES:
// comma-separated key=value pairs, keys and values trimmed of spaces, values
// percent-decoded. Empty entries are skipped.
func parseResourceAttributes(s string) ([]Attribute, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var attrs []Attribute
	for entry := range strings.SplitSeq(s, ",") {
		if strings.TrimSpace(entry) == "" {
			continue
		}
		k, v, ok := strings.Cut(entry, "=")
		k = strings.TrimSpace(k)
		if !ok {
			return nil, fmt.Errorf("%s: entry %q: missing '='", EnvResourceAttributes, entry)
		}
		if k == "" {
			return nil, fmt.Errorf("%s: entry %q: empty key", EnvResourceAttributes, entry)
		}
		value, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("%s: entry %q: bad percent-encoding: %w", EnvResourceAttributes, entry, err)
		}
		attrs = append(attrs, Attribute{Key: k, Value: value})
	}
	return attrs, nil
}

// hostArch maps a GOARCH to the semantic conventions' host.arch values;
// an architecture they do not list is reported as GOARCH names it.
func hostArch(goarch string) string {
	switch goarch {
	case "arm":
		return "arm32"
	case "386":
		return "x86"
	case "ppc64", "ppc64le":
		return "ppc64"
	case "ppc":
		return "ppc32"
	default: // amd64, arm64, s390x, ...
		return goarch
	}
}

// readMachineID returns the trimmed content of the machine-id file, or ""
// when it cannot be read.
func readMachineID(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return string(bytes.TrimSpace(b))
}

// kernelRelease is uname -r, or "" when uname fails.
func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// readOSRelease parses the first os-release file of paths that exists.
func readOSRelease(paths []string) (map[string]string, error) {
	var errs []error
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		return osrelease.Parse(string(b)), nil
	}
	return nil, errors.Join(errs...)
}
