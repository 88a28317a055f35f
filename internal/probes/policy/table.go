package policy

// Minimum is one row of the support table: on distribution ID from release
// Version on, the eBPF provider is supported from kernel Kernel on.
type Minimum struct {
	// ID is the os-release ID the row applies to.
	ID string
	// Name is the distribution as the policy names it.
	Name string
	// Flavor tells apart kernels of one distribution with their own
	// numbering: "UEK" (Oracle's Unbreakable Enterprise Kernel, whose
	// release contains "uek") or "RHCK" (Oracle's Red Hat compatible
	// kernel, every other). Empty: every kernel.
	Flavor string
	// Version is the oldest supported release of the distribution.
	Version string
	// Kernel is the oldest supported kernel release on it.
	Kernel string
}

// Minimums returns the support table: the oldest supported release and
// kernel of each distribution the sensor is supported on. A distribution
// with rows for several major releases (Rocky 8 and 9) is held to the row
// of its own major release; a release newer than every row to the newest
// row. Distributions without a row have no minimum: the feature probes
// decide. docs/kernel.md carries the same table.
func Minimums() []Minimum {
	return []Minimum{
		{ID: "ubuntu", Name: "Ubuntu", Version: "16.04", Kernel: "4.15.0"},
		{ID: "fedora", Name: "Fedora", Version: "33", Kernel: "5.8.15"},
		{ID: "centos", Name: "CentOS", Version: "7.6", Kernel: "3.10.0-957.10"},
		{ID: "rhel", Name: "RHEL", Version: "7.6", Kernel: "3.10.0-957.10"},
		{ID: "sles", Name: "SLES", Version: "15", Kernel: "5.3.18-18.47"},
		{ID: "debian", Name: "Debian", Version: "9.0", Kernel: "4.19.0"},
		{ID: "ol", Name: "Oracle Linux", Flavor: "RHCK", Version: "7.9", Kernel: "3.10.0-1160"},
		{ID: "ol", Name: "Oracle Linux", Flavor: "UEK", Version: "7.9", Kernel: "5.4"},
		{ID: "amzn", Name: "Amazon Linux", Version: "2", Kernel: "5.4.261-174.360"},
		{ID: "rocky", Name: "Rocky Linux", Version: "8.7", Kernel: "4.18.0-425"},
		{ID: "rocky", Name: "Rocky Linux", Version: "9.2", Kernel: "5.14.0-284"},
		{ID: "almalinux", Name: "AlmaLinux", Version: "8.4", Kernel: "4.18.0-305"},
		{ID: "almalinux", Name: "AlmaLinux", Version: "9.2", Kernel: "5.14.0-284"},
	}
}

// Denied is one entry of the deny list: a kernel known to hang or panic
// with eBPF sensors. With provider auto the sensor uses netlink there, and
// with provider ebpf it refuses to load its programs.
type Denied struct {
	// ID is the os-release ID, matched against ID and ID_LIKE (a rebuild of
	// a denied release runs the same kernel).
	ID string
	// Name is the distribution as the policy names it.
	Name string
	// Version, when set, must match the host's VERSION_ID segment by
	// segment as far as it goes: "8" matches 8.8 and 8.10, "8.1" matches
	// 8.1 and 8.1.1911 but not 8.10.
	Version string
	// Kernel, when set, must be the host's kernel release, ignoring what
	// follows it after a '.' or '+' (".x86_64", "+debug").
	Kernel string
	// Why is the known problem.
	Why string
}

// DenyList returns the kernels the eBPF provider is never loaded on
// automatically. docs/kernel.md carries the same list.
func DenyList() []Denied {
	const hangs = "hangs or panics with eBPF sensors"
	return []Denied{
		// UEK R7's first builds, shipped with Oracle Linux 8.8; the kernel is
		// what hangs, so it is denied on every Oracle Linux 8 release.
		{ID: "ol", Name: "Oracle Linux", Version: "8", Kernel: "5.15.0-0.30.20.el8uek", Why: hangs},
		{ID: "ol", Name: "Oracle Linux", Version: "8", Kernel: "5.15.0-0.30.20.1.el8uek", Why: hangs},
		{ID: "rhel", Name: "RHEL", Version: "8.1", Why: hangs},
	}
}
