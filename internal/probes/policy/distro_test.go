package policy

import (
	"slices"
	"testing"
)

func TestParseOSRelease(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       Distribution
		str        string
	}{
		{"debian 12", `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
`, Distribution{ID: "debian", VersionID: "12", Name: "Debian GNU/Linux", PrettyName: "Debian GNU/Linux 12 (bookworm)"}, "Debian GNU/Linux 12"},
		{"ubuntu 16.04", `NAME="Ubuntu"
VERSION="16.04.7 LTS (Xenial Xerus)"
ID=ubuntu
ID_LIKE=debian
PRETTY_NAME="Ubuntu 16.04.7 LTS"
VERSION_ID="16.04"
`, Distribution{ID: "ubuntu", IDLike: []string{"debian"}, VersionID: "16.04", Name: "Ubuntu", PrettyName: "Ubuntu 16.04.7 LTS"}, "Ubuntu 16.04"},
		{"oracle linux 8.8", `NAME="Oracle Linux Server"
VERSION="8.8"
ID="ol"
ID_LIKE="fedora"
VARIANT="Server"
VARIANT_ID="server"
VERSION_ID="8.8"
PLATFORM_ID="platform:el8"
PRETTY_NAME="Oracle Linux Server 8.8"
ANSI_COLOR="0;31"
CPE_NAME="cpe:/o:oracle:linux:8:8:server"
`, Distribution{ID: "ol", IDLike: []string{"fedora"}, VersionID: "8.8", Name: "Oracle Linux Server", PrettyName: "Oracle Linux Server 8.8"}, "Oracle Linux Server 8.8"},
		{"rocky 9.2", `NAME="Rocky Linux"
VERSION="9.2 (Blue Onyx)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.2"
PRETTY_NAME="Rocky Linux 9.2 (Blue Onyx)"
`, Distribution{ID: "rocky", IDLike: []string{"rhel", "centos", "fedora"}, VersionID: "9.2", Name: "Rocky Linux", PrettyName: "Rocky Linux 9.2 (Blue Onyx)"}, "Rocky Linux 9.2"},
		{"centos 7 says only the major release", `NAME="CentOS Linux"
VERSION="7 (Core)"
ID="centos"
ID_LIKE="rhel fedora"
VERSION_ID="7"
`, Distribution{ID: "centos", IDLike: []string{"rhel", "fedora"}, VersionID: "7", Name: "CentOS Linux"}, "CentOS Linux 7"},
		{"sles", `NAME="SLES"
VERSION="15-SP2"
VERSION_ID="15.2"
PRETTY_NAME="SUSE Linux Enterprise Server 15 SP2"
ID="sles"
ID_LIKE="suse"
`, Distribution{ID: "sles", IDLike: []string{"suse"}, VersionID: "15.2", Name: "SLES", PrettyName: "SUSE Linux Enterprise Server 15 SP2"}, "SLES 15.2"},
		{"amazon linux 2", `NAME="Amazon Linux"
VERSION="2"
ID="amzn"
ID_LIKE="centos rhel fedora"
VERSION_ID="2"
PRETTY_NAME="Amazon Linux 2"
`, Distribution{ID: "amzn", IDLike: []string{"centos", "rhel", "fedora"}, VersionID: "2", Name: "Amazon Linux", PrettyName: "Amazon Linux 2"}, "Amazon Linux 2"},
		{"quoting, comments, junk and upper-case ID", "# comment\n  ID='Arch'  \nNAME=\"A \\\"quoted\\\" name\"\nnot an assignment\nVERSION_ID=rolling\\ 1\n BAD KEY=x\n",
			Distribution{ID: "arch", VersionID: "rolling 1", Name: `A "quoted" name`}, `A "quoted" name rolling 1`},
		{"empty", "", Distribution{}, "unknown distribution"},
		{"id only", "ID=gentoo\n", Distribution{ID: "gentoo"}, "gentoo"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ParseOSRelease(tc.text)
			if got.ID != tc.want.ID || got.VersionID != tc.want.VersionID || got.Name != tc.want.Name ||
				got.PrettyName != tc.want.PrettyName || !slices.Equal(got.IDLike, tc.want.IDLike) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if s := got.String(); s != tc.str {
				t.Errorf("String() = %q, want %q", s, tc.str)
			}
		})
	}
}

func FuzzParseOSRelease(f *testing.F) {
	f.Add("ID=debian\nVERSION_ID=\"12\"\n")
	f.Add("NAME='a\\'b'\nID_LIKE=\"rhel  fedora\"\n#x\n=\n")
	f.Fuzz(func(t *testing.T, text string) {
		d := ParseOSRelease(text)
		_ = d.String()
		Evaluate(Facts{OSRelease: text, KernelRelease: text})
	})
}
