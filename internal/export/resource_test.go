package export

import (
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

func TestParseResourceAttributes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []Attribute
	}{
		{"", nil},
		{"  ", nil},
		{"a=b", []Attribute{{"a", "b"}}},
		{"a=b,c=d", []Attribute{{"a", "b"}, {"c", "d"}}},
		{" a = b , c=d ", []Attribute{{"a", "b"}, {"c", "d"}}},
		{"k=hello%20world%2C%3D%25", []Attribute{{"k", "hello world,=%"}}},
		{"k=a+b", []Attribute{{"k", "a+b"}}}, // '+' is not a space in percent-encoding
		{"k=%C3%A9t%C3%A9", []Attribute{{"k", "été"}}},
		{"k=a=b", []Attribute{{"k", "a=b"}}},
		{"k=", []Attribute{{"k", ""}}},
		{"a=b,,c=d,", []Attribute{{"a", "b"}, {"c", "d"}}},
	} {
		got, err := parseResourceAttributes(tc.in)
		if err != nil {
			t.Errorf("parse(%q): %v", tc.in, err)
			continue
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("parse(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestParseResourceAttributesErrors(t *testing.T) {
	for _, in := range []string{"novalue", "a=b,broken", "=v", " =v", "k=%zz", "k=50%"} {
		_, err := parseResourceAttributes(in)
		if err == nil {
			t.Errorf("parse(%q): no error", in)
			continue
		}
		bad := in
		if i := strings.LastIndexByte(in, ','); i >= 0 {
			bad = in[i+1:]
		}
		msg := err.Error()
		if !strings.Contains(msg, "OTEL_RESOURCE_ATTRIBUTES") || !strings.Contains(msg, bad) {
			t.Errorf("parse(%q): error %q does not name the variable and the entry %q", in, msg, bad)
		}
	}
}

func TestParseOSRelease(t *testing.T) {
	rel, err := readOSRelease([]string{"testdata/missing-os-release", "testdata/os-release"})
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"NAME":             "Debian GNU/Linux",
		"PRETTY_NAME":      "Debian GNU/Linux 13 (trixie)",
		"VERSION_CODENAME": "trixie",
		"SUPPORT_URL":      "https://www.debian.org/support",
		"ESCAPED":          `say "hi" for $5 \ back\slash`,
		"INDENTED":         "unquoted value",
	} {
		if got := rel[k]; got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if _, ok := rel["not an assignment"]; ok {
		t.Error("a line that is not an assignment was parsed")
	}
	if _, err := readOSRelease([]string{"testdata/missing-os-release"}); err == nil {
		t.Error("no error when no os-release file exists")
	}
}

func TestHostArch(t *testing.T) {
	for goarch, want := range map[string]string{
		"amd64": "amd64", "arm64": "arm64", "arm": "arm32", "386": "x86",
		"ppc64le": "ppc64", "ppc64": "ppc64", "s390x": "s390x", "riscv64": "riscv64",
	} {
		if got := hostArch(goarch); got != want {
			t.Errorf("hostArch(%q) = %q, want %q", goarch, got, want)
		}
	}
}

// testResourceOptions detects from testdata and the given environment only.
func testResourceOptions(env map[string]string) ResourceOptions {
	return ResourceOptions{
		Version:        "1.2.3",
		Provider:       "netlink",
		Getenv:         func(k string) string { return env[k] },
		MachineIDPath:  "testdata/machine-id",
		OSReleasePaths: []string{"testdata/os-release"},
	}
}

func TestDetectResource(t *testing.T) {
	res, err := DetectResource(testResourceOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	if res.Version != "1.2.3" {
		t.Errorf("Version = %q", res.Version)
	}
	for k, want := range map[string]string{
		"service.name":    "otel-sensor",
		"service.version": "1.2.3",
		"host.id":         "0123456789abcdef0123456789abcdef",
		"host.arch":       hostArch(runtime.GOARCH),
		"os.type":         "linux",
		"os.name":         "Debian GNU/Linux",
		"os.description":  "Debian GNU/Linux 13 (trixie)",
		"sensor.provider": "netlink",
	} {
		if got, _ := res.Value(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	for _, k := range []string{"host.name", "os.version"} {
		if v, ok := res.Value(k); !ok || v == "" {
			t.Errorf("%s not detected", k)
		}
	}
	seen := map[string]bool{}
	for _, a := range res.Attributes {
		if seen[a.Key] {
			t.Errorf("duplicate attribute %s", a.Key)
		}
		seen[a.Key] = true
	}

	// service.instance.id: UUID v5 of host.id and service.name, stable
	// across restarts, distinct per service name.
	id, _ := res.Value("service.instance.id")
	wantID := uuid.NewSHA1(uuid.MustParse(instanceNamespace), []byte("0123456789abcdef0123456789abcdef.otel-sensor")).String()
	if id != wantID {
		t.Errorf("service.instance.id = %q, want %q", id, wantID)
	}
	again, err := DetectResource(testResourceOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := again.Value("service.instance.id"); got != id {
		t.Errorf("service.instance.id changed between detections: %q then %q", id, got)
	}
	other, err := DetectResource(testResourceOptions(map[string]string{EnvServiceName: "other"}))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := other.Value("service.instance.id"); got == id {
		t.Error("service.instance.id does not depend on service.name")
	}
}

func TestDetectResourceWithoutMachineID(t *testing.T) {
	opts := testResourceOptions(nil)
	opts.MachineIDPath = filepath.Join(t.TempDir(), "missing")
	opts.OSReleasePaths = []string{filepath.Join(t.TempDir(), "missing")}
	res, err := DetectResource(opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"host.id", "os.name", "os.description"} {
		if v, ok := res.Value(k); ok {
			t.Errorf("%s = %q although it cannot be known", k, v)
		}
	}
	id, _ := res.Value("service.instance.id")
	u, err := uuid.Parse(id)
	if err != nil || u.Version() != 4 {
		t.Errorf("service.instance.id = %q, want a random UUID v4", id)
	}
}

func TestDetectResourceEnvironment(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want map[string]string
	}{
		{
			name: "OTEL_RESOURCE_ATTRIBUTES overrides and adds",
			env: map[string]string{EnvResourceAttributes: "host.id=custom,deployment.environment.name=prod%20eu," +
				"service.name=from-attributes,service.instance.id=fixed"},
			want: map[string]string{
				"host.id":                     "custom",
				"deployment.environment.name": "prod eu",
				"service.name":                "from-attributes",
				"service.instance.id":         "fixed",
			},
		},
		{
			name: "OTEL_SERVICE_NAME wins over OTEL_RESOURCE_ATTRIBUTES",
			env:  map[string]string{EnvResourceAttributes: "service.name=from-attributes", EnvServiceName: "from-name"},
			want: map[string]string{"service.name": "from-name"},
		},
		{
			name: "empty OTEL_SERVICE_NAME is unset",
			env:  map[string]string{EnvServiceName: "  "},
			want: map[string]string{"service.name": "otel-sensor"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := DetectResource(testResourceOptions(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range tc.want {
				if got, _ := res.Value(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}

	_, err := DetectResource(testResourceOptions(map[string]string{EnvResourceAttributes: "a=b,oops"}))
	if err == nil || !strings.Contains(err.Error(), EnvResourceAttributes) || !strings.Contains(err.Error(), `"oops"`) {
		t.Errorf("bad OTEL_RESOURCE_ATTRIBUTES: err = %v, want one naming the variable and the entry", err)
	}
}

func TestResourceCopyIsValidUTF8(t *testing.T) {
	res := Resource{Attributes: []Attribute{{"host.name", "bad\xffname"}}}
	r := pcommon.NewResource()
	res.copyTo(r)
	if v, _ := r.Attributes().Get("host.name"); v.Str() != "bad\uFFFDname" {
		t.Errorf("host.name = %q", v.Str())
	}
}
