package policy

import (
	"fmt"
	"strings"
	"testing"
)

// names are the os-release NAMEs of the distributions in the tests.
var testNames = map[string]string{
	"ubuntu": "Ubuntu", "fedora": "Fedora Linux", "centos": "CentOS Linux",
	"rhel": "Red Hat Enterprise Linux", "sles": "SLES", "debian": "Debian GNU/Linux",
	"ol": "Oracle Linux Server", "amzn": "Amazon Linux", "rocky": "Rocky Linux",
	"almalinux": "AlmaLinux", "arch": "Arch Linux",
}

// osRelease writes an os-release file.
func osRelease(id, version string, like ...string) string {
	s := fmt.Sprintf("NAME=%q\nID=%s\n", testNames[id], id)
	if version != "" {
		s += fmt.Sprintf("VERSION_ID=%q\n", version)
	}
	if len(like) > 0 {
		s += fmt.Sprintf("ID_LIKE=%q\n", strings.Join(like, " "))
	}
	return s
}

// capable is a host whose kernel has every feature.
func capable(id, version, kernel string, like ...string) Facts {
	present := Feature{State: Present}
	return Facts{
		OSRelease:      osRelease(id, version, like...),
		KernelRelease:  kernel,
		Machine:        "x86_64",
		Lockdown:       "integrity",
		BTF:            present,
		RingBuffer:     present,
		BTFTracepoints: present,
		Loop:           present,
	}
}

func TestEvaluate(t *testing.T) {
	const allowed = "meets the support policy"
	with := func(f Facts, change func(*Facts)) Facts { change(&f); return f }
	for _, tc := range []struct {
		name       string
		facts      Facts
		ebpf       bool
		denyListed bool
		reason     string // contained in the reason
	}{
		// Minimums, row by row: at or above the minimum, the kernel below
		// it, the release below it.
		{"ubuntu 16.04 HWE kernel", capable("ubuntu", "16.04", "4.15.0-213-generic"), true, false, allowed},
		{"ubuntu 16.04 GA kernel", capable("ubuntu", "16.04", "4.4.0-210-generic"), false, false, "kernel 4.4.0-210-generic is below the minimum 4.15.0 for Ubuntu 16.04"},
		{"ubuntu 4.14", capable("ubuntu", "16.04", "4.14"), false, false, "kernel 4.14 is below the minimum 4.15.0 for Ubuntu 16.04"},
		{"ubuntu 14.04", capable("ubuntu", "14.04", "4.4.0-148-generic"), false, false, "Ubuntu 14.04 is below the minimum release Ubuntu 16.04"},
		{"ubuntu 22.04 follows the newest row", capable("ubuntu", "22.04", "5.15.0-91-generic"), true, false, allowed},
		{"fedora 33", capable("fedora", "33", "5.8.15-301.fc33.x86_64"), true, false, allowed},
		{"fedora 33 older kernel", capable("fedora", "33", "5.8.14-300.fc33.x86_64"), false, false, "below the minimum 5.8.15 for Fedora 33"},
		{"fedora 32", capable("fedora", "32", "5.6.6-300.fc32.x86_64"), false, false, "Fedora 32 is below the minimum release Fedora 33"},
		{"fedora 39", capable("fedora", "39", "6.5.6-300.fc39.x86_64"), true, false, allowed},
		{"centos 7 (major only) with 7.6's update kernel", capable("centos", "7", "3.10.0-957.10.1.el7.x86_64", "rhel", "fedora"), true, false, allowed},
		{"centos 7 with 7.6's GA kernel", capable("centos", "7", "3.10.0-957.el7.x86_64", "rhel", "fedora"), false, false, "kernel 3.10.0-957.el7.x86_64 is below the minimum 3.10.0-957.10 for CentOS 7"},
		{"centos 7.5", capable("centos", "7.5", "3.10.0-862.el7.x86_64", "rhel", "fedora"), false, false, "CentOS 7.5 is below the minimum release CentOS 7.6"},
		{"centos stream 9", capable("centos", "9", "5.14.0-388.el9.x86_64", "rhel", "fedora"), true, false, allowed},
		{"rhel 7.6", capable("rhel", "7.6", "3.10.0-957.10.1.el7.x86_64", "fedora"), true, false, allowed},
		{"rhel 7.6 older kernel", capable("rhel", "7.6", "3.10.0-957.5.1.el7.x86_64", "fedora"), false, false, "below the minimum 3.10.0-957.10 for RHEL 7.6"},
		{"rhel 7.5", capable("rhel", "7.5", "3.10.0-862.14.4.el7.x86_64", "fedora"), false, false, "RHEL 7.5 is below the minimum release RHEL 7.6"},
		{"rhel 7.9", capable("rhel", "7.9", "3.10.0-1160.119.1.el7.x86_64", "fedora"), true, false, allowed},
		{"rhel 8.8", capable("rhel", "8.8", "4.18.0-477.10.1.el8_8.x86_64", "fedora"), true, false, allowed},
		{"rhel 9.2", capable("rhel", "9.2", "5.14.0-284.11.1.el9_2.x86_64", "fedora"), true, false, allowed},
		{"sles 15 sp2", capable("sles", "15.2", "5.3.18-24.37-default", "suse"), true, false, allowed},
		{"sles 15 sp2 GA", capable("sles", "15.2", "5.3.18-18.47-default", "suse"), true, false, allowed},
		{"sles 15 sp1 kernel", capable("sles", "15.1", "4.12.14-197.29-default", "suse"), false, false, "kernel 4.12.14-197.29-default is below the minimum 5.3.18-18.47 for SLES 15.1"},
		{"sles 12 sp5", capable("sles", "12.5", "4.12.14-122.37-default", "suse"), false, false, "SLES 12.5 is below the minimum release SLES 15"},
		{"debian 9 with the backports kernel", capable("debian", "9", "4.19.0-0.bpo.19-amd64"), true, false, allowed},
		{"debian 9 with its own kernel", capable("debian", "9", "4.9.0-19-amd64"), false, false, "kernel 4.9.0-19-amd64 is below the minimum 4.19.0 for Debian 9"},
		{"debian 8", capable("debian", "8", "3.16.0-11-amd64"), false, false, "Debian 8 is below the minimum release Debian 9.0"},
		{"debian testing without VERSION_ID", capable("debian", "", "6.6.8-amd64"), true, false, allowed},
		{"debian 12", capable("debian", "12", "6.1.0-18-amd64"), true, false, allowed},
		{"oracle linux 7.9 RHCK", capable("ol", "7.9", "3.10.0-1160.105.1.0.1.el7.x86_64", "fedora"), true, false, allowed},
		{"oracle linux 7.9 older RHCK", capable("ol", "7.9", "3.10.0-1127.el7.x86_64", "fedora"), false, false, "kernel 3.10.0-1127.el7.x86_64 is below the minimum 3.10.0-1160 for Oracle Linux 7.9 (RHCK)"},
		{"oracle linux 7.9 UEK 6", capable("ol", "7.9", "5.4.17-2136.307.3.1.el7uek.x86_64", "fedora"), true, false, allowed},
		{"oracle linux 7.9 UEK 5", capable("ol", "7.9", "4.14.35-2047.518.4.2.el7uek.x86_64", "fedora"), false, false, "kernel 4.14.35-2047.518.4.2.el7uek.x86_64 is below the minimum 5.4 for Oracle Linux 7.9 (UEK)"},
		{"oracle linux 7.8", capable("ol", "7.8", "3.10.0-1127.el7.x86_64", "fedora"), false, false, "Oracle Linux 7.8 is below the minimum release Oracle Linux 7.9"},
		{"oracle linux 8.8 UEK 7 update", capable("ol", "8.8", "5.15.0-101.103.2.1.el8uek.x86_64", "fedora"), true, false, allowed},
		{"oracle linux 8.8 RHCK", capable("ol", "8.8", "4.18.0-477.10.1.el8_8.x86_64", "fedora"), true, false, allowed},
		{"amazon linux 2", capable("amzn", "2", "5.4.261-174.360.amzn2.x86_64", "centos", "rhel", "fedora"), true, false, allowed},
		{"amazon linux 2 older 5.4", capable("amzn", "2", "5.4.258-171.360.amzn2.x86_64", "centos", "rhel", "fedora"), false, false, "below the minimum 5.4.261-174.360 for Amazon Linux 2"},
		{"amazon linux 2 with 4.14", capable("amzn", "2", "4.14.336-257.562.amzn2.x86_64", "centos", "rhel", "fedora"), false, false, "below the minimum 5.4.261-174.360"},
		{"amazon linux 2 with 5.10", capable("amzn", "2", "5.10.184-175.731.amzn2.x86_64", "centos", "rhel", "fedora"), true, false, allowed},
		{"amazon linux 2023", capable("amzn", "2023", "6.1.55-75.123.amzn2023.x86_64", "fedora"), true, false, allowed},
		{"rocky 8.7", capable("rocky", "8.7", "4.18.0-425.3.1.el8.x86_64", "rhel", "centos", "fedora"), true, false, allowed},
		{"rocky 8.6", capable("rocky", "8.6", "4.18.0-372.9.1.el8.x86_64", "rhel", "centos", "fedora"), false, false, "Rocky Linux 8.6 is below the minimum release Rocky Linux 8.7"},
		{"rocky 8.7 with 8.6's kernel", capable("rocky", "8.7", "4.18.0-372.9.1.el8.x86_64", "rhel", "centos", "fedora"), false, false, "below the minimum 4.18.0-425 for Rocky Linux 8.7"},
		{"rocky 8.10", capable("rocky", "8.10", "4.18.0-553.el8_10.x86_64", "rhel", "centos", "fedora"), true, false, allowed},
		{"rocky 9.2", capable("rocky", "9.2", "5.14.0-284.11.1.el9_2.x86_64", "rhel", "centos", "fedora"), true, false, allowed},
		{"rocky 9.0 is held to the 9.2 row", capable("rocky", "9.0", "5.14.0-70.13.1.el9_0.x86_64", "rhel", "centos", "fedora"), false, false, "Rocky Linux 9.0 is below the minimum release Rocky Linux 9.2"},
		{"rocky 9.2 with 9.0's kernel", capable("rocky", "9.2", "5.14.0-70.13.1.el9_0.x86_64", "rhel", "centos", "fedora"), false, false, "below the minimum 5.14.0-284 for Rocky Linux 9.2"},
		{"rocky 10 follows the newest row", capable("rocky", "10.0", "6.12.0-55.9.1.el10_0.x86_64", "rhel", "centos", "fedora"), true, false, allowed},
		{"alma 8.4", capable("almalinux", "8.4", "4.18.0-305.el8.x86_64", "rhel", "centos", "fedora"), true, false, allowed},
		{"alma 8.3", capable("almalinux", "8.3", "4.18.0-240.el8.x86_64", "rhel", "centos", "fedora"), false, false, "AlmaLinux 8.3 is below the minimum release AlmaLinux 8.4"},
		{"alma 8.4 with 8.3's kernel", capable("almalinux", "8.4", "4.18.0-240.22.1.el8_3.x86_64", "rhel", "centos", "fedora"), false, false, "below the minimum 4.18.0-305 for AlmaLinux 8.4"},
		{"alma 9.2", capable("almalinux", "9.2", "5.14.0-284.11.1.el9_2.x86_64", "rhel", "centos", "fedora"), true, false, allowed},
		{"alma 9.1", capable("almalinux", "9.1", "5.14.0-162.6.1.el9_1.x86_64", "rhel", "centos", "fedora"), false, false, "AlmaLinux 9.1 is below the minimum release AlmaLinux 9.2"},

		// The deny list, with vendor suffixes.
		{"oracle linux 8.8 UEK 5.15.0-0.30.20", capable("ol", "8.8", "5.15.0-0.30.20.el8uek.x86_64", "fedora"), false, true,
			"kernel 5.15.0-0.30.20.el8uek.x86_64 on Oracle Linux Server 8.8 is on the deny list (hangs or panics with eBPF sensors)"},
		{"oracle linux 8.8 UEK 5.15.0-0.30.20.1", capable("ol", "8.8", "5.15.0-0.30.20.1.el8uek.x86_64", "fedora"), false, true, "5.15.0-0.30.20.1.el8uek.x86_64 on Oracle Linux Server 8.8 is on the deny list"},
		{"oracle linux 8.8 UEK 5.15.0-0.30.20 aarch64", with(capable("ol", "8.8", "5.15.0-0.30.20.el8uek.aarch64", "fedora"), func(f *Facts) { f.Machine = "aarch64" }), false, true, "deny list"},
		{"oracle linux 8.8 UEK 5.15.0-0.30.20 debug", capable("ol", "8.8", "5.15.0-0.30.20.el8uek.x86_64+debug", "fedora"), false, true, "deny list"},
		{"oracle linux 8.6 with the denied UEK", capable("ol", "8.6", "5.15.0-0.30.20.el8uek.x86_64", "fedora"), false, true, "deny list"},
		{"oracle linux 8.8 next UEK build", capable("ol", "8.8", "5.15.0-0.30.21.el8uek.x86_64", "fedora"), true, false, allowed},
		{"oracle linux 8.8 UEK 5.15.0-0.30.20.10 is another kernel", capable("ol", "8.8", "5.15.0-0.30.20.10.el8uek.x86_64", "fedora"), true, false, allowed},
		{"oracle linux 9 with an el9 UEK", capable("ol", "9.2", "5.15.0-0.30.20.el9uek.x86_64", "fedora"), true, false, allowed},
		{"rhel 8.1", capable("rhel", "8.1", "4.18.0-147.el8.x86_64", "fedora"), false, true,
			"kernel 4.18.0-147.el8.x86_64 on Red Hat Enterprise Linux 8.1 is on the deny list (hangs or panics with eBPF sensors)"},
		{"rhel 8.1 updated kernel", capable("rhel", "8.1", "4.18.0-147.8.1.el8_1.x86_64", "fedora"), false, true, "deny list"},
		{"rhel 8.1 without a kernel release", capable("rhel", "8.1", "", "fedora"), false, true, "Red Hat Enterprise Linux 8.1 is on the deny list"},
		{"centos 8.1 (a rhel 8.1 rebuild)", capable("centos", "8.1.1911", "4.18.0-147.el8.x86_64", "rhel", "fedora"), false, true,
			"on CentOS Linux 8.1.1911 (derived from RHEL) is on the deny list"},
		{"rhel 8.10 is not 8.1", capable("rhel", "8.10", "4.18.0-553.el8_10.x86_64", "fedora"), true, false, allowed},
		{"rhel 8.2", capable("rhel", "8.2", "4.18.0-193.el8.x86_64", "fedora"), true, false, allowed},

		// Architecture, lockdown and the features.
		{"this machine", capable("debian", "12", "6.18.44-fc-v595"), true, false, "kernel 6.18.44-fc-v595 on Debian GNU/Linux 12 meets the support policy"},
		{"arm64", with(capable("debian", "12", "6.1.0-18-arm64"), func(f *Facts) { f.Machine = "aarch64" }), false, false, "built for x86_64, this machine is aarch64"},
		{"lockdown confidentiality", with(capable("debian", "12", "6.1.0-18-amd64"), func(f *Facts) { f.Lockdown = "confidentiality" }), false, false, "lockdown is in confidentiality mode"},
		{"lockdown none", with(capable("debian", "12", "6.1.0-18-amd64"), func(f *Facts) { f.Lockdown = "none" }), true, false, allowed},
		{"no BTF", with(capable("debian", "12", "6.1.0-18-amd64"), func(f *Facts) { f.BTF = Feature{State: Missing} }), false, false, "no BTF at /sys/kernel/btf/vmlinux"},
		{"no ring buffer", with(capable("arch", "", "5.4.0"), func(f *Facts) { f.RingBuffer = Feature{State: Missing, Detail: "map type RingBuf: not supported"} }), false, false, "no BPF ring buffer (Linux 5.8+): map type RingBuf: not supported"},
		{"tp_btf refused", with(capable("debian", "12", "6.1.0-18-amd64"), func(f *Facts) {
			f.BTFTracepoints = Feature{State: Missing, Detail: "tp_btf/sys_exit: refused"}
		}), false, false, "BTF tracepoint programs (tp_btf) cannot be loaded: tp_btf/sys_exit: refused"},
		{"no bpf_loop", with(capable("debian", "12", "5.10.0-28-amd64"), func(f *Facts) { f.Loop = Feature{State: Missing} }), false, false, "no bpf_loop helper (Linux 5.17+)"},
		{"features not probed", with(capable("debian", "12", "6.1.0-18-amd64"), func(f *Facts) {
			f.RingBuffer, f.Loop = Feature{Detail: "not probed"}, Feature{}
		}), true, false, "meets the support policy; not verified: BPF ring buffer (not probed), bpf_loop"},
		{"unlisted distribution, features decide", capable("arch", "", "6.7.4-arch1-1"), true, false, "on Arch Linux meets the support policy"},
		{"unlisted distribution without BTF", with(capable("arch", "", "6.7.4-arch1-1"), func(f *Facts) { f.BTF = Feature{State: Missing} }), false, false, "no BTF"},
		{"nothing known", Facts{}, true, false, "this kernel on unknown distribution meets the support policy; not verified: BTF, BPF ring buffer, BTF tracepoint programs, bpf_loop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := Evaluate(tc.facts)
			if v.EBPF != tc.ebpf || v.DenyListed != tc.denyListed || !strings.Contains(v.Reason, tc.reason) {
				t.Errorf("got ebpf %v deny-listed %v reason %q\nwant ebpf %v deny-listed %v reason containing %q",
					v.EBPF, v.DenyListed, v.Reason, tc.ebpf, tc.denyListed, tc.reason)
			}
		})
	}
}

// Every row of the table admits its own minimum release and kernel.
func TestEveryMinimumAdmitsItself(t *testing.T) {
	for _, m := range Minimums() {
		kernel := m.Kernel + ".x86_64"
		if m.Flavor == "UEK" {
			kernel = m.Kernel + ".17-1.el7uek.x86_64"
		}
		v := Evaluate(capable(m.ID, m.Version, kernel))
		if !v.EBPF {
			t.Errorf("%s %s %s with kernel %s: %s", m.Name, m.Flavor, m.Version, kernel, v.Reason)
		}
		row, found, older := minimumFor(ParseOSRelease(osRelease(m.ID, m.Version)), kernel)
		if !found || older || row != m {
			t.Errorf("%s %s %s: the row found is %+v (found %v, older %v)", m.Name, m.Flavor, m.Version, row, found, older)
		}
	}
}

// Every entry of the deny list denies, on its distribution and on one that
// derives from it.
func TestEveryDenyListEntryDenies(t *testing.T) {
	for _, e := range DenyList() {
		version := e.Version
		if version == "8" {
			version = "8.8"
		}
		kernel := e.Kernel + ".x86_64"
		if e.Kernel == "" {
			kernel = "4.18.0-147.el8.x86_64"
		}
		for _, f := range []Facts{capable(e.ID, version, kernel), capable("derived", version, kernel, e.ID)} {
			if v := Evaluate(f); !v.DenyListed || v.EBPF || !strings.Contains(v.Reason, "deny list") {
				t.Errorf("%+v on %q: %+v", e, f.OSRelease, v)
			}
		}
	}
}

func TestParseLockdown(t *testing.T) {
	for text, want := range map[string]string{
		"none [integrity] confidentiality\n": "integrity",
		"[none] integrity confidentiality\n": "none",
		"none integrity [confidentiality]":   "confidentiality",
		"":                                   "",
		"[] x":                               "",
	} {
		if got := ParseLockdown(text); got != want {
			t.Errorf("ParseLockdown(%q) = %q, want %q", text, got, want)
		}
	}
}

func TestParseCapEff(t *testing.T) {
	eff, err := ParseCapEff("Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\nCapBnd:\t0\n")
	if err != nil || eff != 0x1ffffffffff {
		t.Errorf("got %#x, %v", eff, err)
	}
	if _, err := ParseCapEff("CapEff:\tzz\n"); err == nil {
		t.Error("bad CapEff parsed")
	}
	if _, err := ParseCapEff("Name:\tx\n"); err == nil {
		t.Error("missing CapEff parsed")
	}
}
