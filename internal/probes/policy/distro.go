package policy

import (
	"strings"

	"github.com/otel-sensor/otel-sensor/internal/osrelease"
)

// Distribution is what os-release(5) says about the host.
type Distribution struct {
	// ID is the lower-case identifier ("ubuntu", "rhel", "ol", "amzn").
	ID string
	// IDLike lists the distributions this one derives from, closest first.
	IDLike []string
	// VersionID is the release ("22.04", "8.8", "2"); empty on rolling
	// releases.
	VersionID string
	// Name and PrettyName are for people.
	Name, PrettyName string
}

// ParseOSRelease reads the os-release(5) format: KEY=value lines, values
// optionally quoted as in sh, '#' comments. Lines that are not assignments
// are ignored, so any text gives a (possibly empty) Distribution.
func ParseOSRelease(text string) Distribution {
	vars := osrelease.Parse(text)
	return Distribution{
		ID:         strings.ToLower(vars["ID"]),
		IDLike:     strings.Fields(strings.ToLower(vars["ID_LIKE"])),
		VersionID:  vars["VERSION_ID"],
		Name:       vars["NAME"],
		PrettyName: vars["PRETTY_NAME"],
	}
}

// String names the distribution and its release for messages: "Ubuntu
// 22.04", or "unknown distribution" without os-release.
func (d Distribution) String() string {
	name := d.Name
	if name == "" {
		name = d.ID
	}
	switch {
	case name == "":
		return "unknown distribution"
	case d.VersionID == "":
		return name
	}
	return name + " " + d.VersionID
}

// is reports whether the distribution is id or derives from it.
func (d Distribution) is(id string) bool {
	if d.ID == id {
		return true
	}
	for _, l := range d.IDLike {
		if l == id {
			return true
		}
	}
	return false
}
