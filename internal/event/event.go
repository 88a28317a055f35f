// Package event defines the provider-neutral event that every provider (eBPF,
// netlink) emits and every exporter consumes.
//
// Rules: a field the provider could not know is left at its zero value and is
// not exported (strings empty, pointers nil, times zero); a value that had to be
// cut is listed in Truncated by the name of the attribute it maps to, and one
// the provider tried but failed to fill is listed in Incomplete. Strings
// hold the bytes the kernel gave, which need not be valid UTF-8; the mapping to
// OTLP decides how to carry such bytes losslessly.
package event

import (
	"slices"
	"time"
)

// Kind is what happened.
type Kind uint8

// The kinds of events. Their EventName strings are fixed by the design contract.
const (
	KindUnknown Kind = iota
	KindExec
	KindFork
	KindExit
	KindCredentialsChange
	KindFileOpen
	KindFileRename
	KindFileDelete
	KindFileLink
	KindFileSymlink
	KindFileMkdir
	KindFileChmod
	KindFileChown
	KindFileTruncate
	KindNetworkConnect
	KindNetworkAccept
	KindNetworkBind
	KindNetworkListen
	kindCount
)

var kindNames = [kindCount]string{
	KindUnknown:           "unknown",
	KindExec:              "process.exec",
	KindFork:              "process.fork",
	KindExit:              "process.exit",
	KindCredentialsChange: "process.credentials_change",
	KindFileOpen:          "file.open",
	KindFileRename:        "file.rename",
	KindFileDelete:        "file.delete",
	KindFileLink:          "file.link",
	KindFileSymlink:       "file.symlink",
	KindFileMkdir:         "file.mkdir",
	KindFileChmod:         "file.chmod",
	KindFileChown:         "file.chown",
	KindFileTruncate:      "file.truncate",
	KindNetworkConnect:    "network.connect",
	KindNetworkAccept:     "network.accept",
	KindNetworkBind:       "network.bind",
	KindNetworkListen:     "network.listen",
}

// Name is the OpenTelemetry EventName of the kind.
func (k Kind) Name() string {
	if k >= kindCount {
		return kindNames[KindUnknown]
	}
	return kindNames[k]
}

// Kinds lists every known kind, in order.
func Kinds() []Kind {
	kinds := make([]Kind, 0, kindCount-1)
	for k := KindExec; k < kindCount; k++ {
		kinds = append(kinds, k)
	}
	return kinds
}

// Credentials are a task's user and group ids.
type Credentials struct {
	UID, EUID, SUID, FSUID uint32
	GID, EGID, SGID, FSGID uint32
}

// NoLoginUID is the kernel's value of loginuid for a task that never logged in.
const NoLoginUID = ^uint32(0)

// Process is the process an event is about: the initiator of the action (for
// process.fork, the new child).
type Process struct {
	PID       uint32
	ParentPID uint32
	// StartTime is the creation time of the process (thread-group leader).
	StartTime time.Time
	// ExecutablePath is absolute, or relative when the path walk was cut
	// (then Truncated names process.executable.path).
	ExecutablePath string
	// ParentExecutablePath is the parent's executable, when known.
	ParentExecutablePath string
	// Credentials is nil when unknown.
	Credentials *Credentials
	// LoginUID is the audit login uid (NoLoginUID when unset); valid only
	// when Credentials is non-nil.
	LoginUID uint32
	// CgroupPath is the cgroup v2 path ("/system.slice/x.service").
	CgroupPath string
	// ContainerID is derived from the cgroup path when the process runs in
	// a container.
	ContainerID string
	// Comm is the kernel's 16-byte task name.
	Comm string
}

// Exec holds what is specific to process.exec.
type Exec struct {
	// Args is nil when unknown; it may be cut (see Event.Truncated).
	Args []string
	// ArgsCount is the kernel's argc, exact even when Args was cut; -1 when
	// unknown. Zero is a real value (an exec with an empty argv).
	ArgsCount        int
	WorkingDirectory string
	SessionLeaderPID uint32
	GroupLeaderPID   uint32
	Interactive      bool
	TTY              string
}

// Exit holds what is specific to process.exit.
type Exit struct {
	Code       int
	Signal     int
	CoreDumped bool
}

// CredentialsChange holds what is specific to process.credentials_change.
// The new ids are Process.Credentials.
type CredentialsChange struct {
	Previous    Credentials
	SyscallID   int
	SyscallName string
}

// Access is how a file was opened.
type Access uint8

// The access modes of an open (O_ACCMODE).
const (
	AccessRead Access = iota
	AccessWrite
	AccessReadWrite
)

func (a Access) String() string {
	switch a {
	case AccessWrite:
		return "write"
	case AccessReadWrite:
		return "read_write"
	}
	return "read"
}

// NoID marks an owner or group that a chown leaves unchanged (-1).
const NoID = ^uint32(0)

// File holds what is specific to the file.* events.
type File struct {
	// Path is the file acted on: the opened, deleted, created, changed
	// file; for rename and link the new name; for symlink the link.
	Path string
	// PreviousPath is the old name of a rename.
	PreviousPath string
	// SourcePath is the existing file a hard link points to.
	SourcePath string
	// SymlinkTarget is the target of a symbolic link, as given (not
	// resolved).
	SymlinkTarget string
	// Open: access mode, the O_* flags, whether the file was created or
	// truncated.
	Access    Access
	Flags     uint32
	Created   bool
	Truncated bool
	// Directory is set when a directory was deleted.
	Directory bool
	// Mode is the mode of chmod and mkdir, and of an open that created the
	// file; HasMode says it is set.
	Mode    uint32
	HasMode bool
	// OwnerID and GroupID are chown's new ids, NoID when unchanged.
	OwnerID, GroupID uint32
	// Exchange, NoReplace: renameat2 flags.
	Exchange, NoReplace bool
	// SyscallID and SyscallName are the syscall that did it.
	SyscallID   int
	SyscallName string
	// Errno is non-zero for a failed attempt (reported only when enabled).
	Errno int
}

// Network holds what is specific to the network.* events: the socket as the
// kernel holds it.
type Network struct {
	// Family is the socket's AF_* family; Transport "tcp", "udp" or
	// "unix" (empty for other protocols, see Protocol); Type "ipv4" or
	// "ipv6" (empty for unix sockets).
	Family    int
	Transport string
	Type      string
	// SocketType is SOCK_STREAM (1), SOCK_DGRAM (2), SOCK_RAW (3),
	// SOCK_SEQPACKET (5)...; Protocol the IPPROTO_* number.
	SocketType int
	Protocol   int
	// LocalAddress and PeerAddress: an IP address in its usual text form
	// (IPv4-mapped IPv6 as ::ffff:a.b.c.d), or a unix socket's path, or its
	// abstract name with a leading "@" (then the Abstract flag is set).
	// Empty when the socket has none.
	LocalAddress, PeerAddress   string
	LocalPort, PeerPort         int
	LocalAbstract, PeerAbstract bool
	// PeerFromCall: the peer is the address the caller asked for (a
	// connect that failed), not one the socket holds.
	PeerFromCall bool
	// InProgress: a non-blocking connect returned EINPROGRESS.
	InProgress  bool
	SyscallID   int
	SyscallName string
	// Errno is non-zero for a connect that failed.
	Errno int
}

// Event is one observation.
type Event struct {
	Kind Kind
	// Time is when it happened in the kernel, as wall-clock time.
	Time time.Time
	// Observed is when the sensor read it.
	Observed time.Time
	Process  Process

	Exec        *Exec
	Exit        *Exit
	Credentials *CredentialsChange
	File        *File
	Network     *Network

	// Truncated lists the attribute names whose values were cut.
	Truncated []string
	// Incomplete lists the attribute names the provider tried to fill but
	// could not; their fields hold the values that mean unknown, so they
	// are absent. The netlink provider reads from /proc after the event and
	// lists here what it could not read or verify (the process had exited,
	// or changed again before it was read).
	Incomplete []string

	// Paths named by a process in another mount namespace (a container's)
	// are the host's view of the file where the provider can name it.
	// ProcessView holds, by attribute name, the path as the process saw
	// it, where that differs from the host's view in the attribute.
	// HostPathUnknown lists the path attributes that hold the process's
	// view because the host's could not be named: its file system is not
	// mounted on the host, or the name the process passed may lead
	// elsewhere from the host's root.
	ProcessView     map[string]string
	HostPathUnknown []string

	release func() // see Release
}

// SetRelease makes Release call f: a provider that reuses its events sets
// it on each one it hands out.
func (ev *Event) SetRelease(f func()) { ev.release = f }

// Release hands ev back to the provider that made it, to be reused: the
// handler that is last to use ev calls it once done (the export pipeline,
// once ev is mapped or dropped), and nothing may touch ev after. Handlers
// that keep events do not call it. Strings and slices taken from ev stay
// valid; only the Event and what its provider allocated with it (File,
// Network, Process.Credentials) are reused. Without SetRelease, and on a
// second call, it does nothing.
func (ev *Event) Release() {
	if f := ev.release; f != nil {
		ev.release = nil
		f()
	}
}

// SetProcessView records that attr holds the host's view host of a path
// the process saw as view.
func (ev *Event) SetProcessView(attr, host, view string) {
	if host == view {
		return
	}
	if ev.ProcessView == nil {
		ev.ProcessView = make(map[string]string, 2)
	}
	ev.ProcessView[attr] = view
}

// ForgetView removes what ev says of the views of attr's path: for a path
// found unknown after all (listed in Incomplete instead).
func (ev *Event) ForgetView(attr string) {
	delete(ev.ProcessView, attr)
	ev.HostPathUnknown = slices.DeleteFunc(ev.HostPathUnknown, func(a string) bool { return a == attr })
}

// Attribute names used in Truncated. They are the names the exporter uses.
const (
	AttrExecutablePath       = "process.executable.path"
	AttrParentExecutablePath = "sensor.process.parent.executable.path"
	AttrCommandArgs          = "process.command_args"
	AttrWorkingDirectory     = "process.working_directory"
	AttrCgroup               = "process.linux.cgroup"
	AttrFilePath             = "file.path"
	AttrFilePreviousPath     = "sensor.file.previous_path"
	AttrFileSourcePath       = "sensor.file.link.source_path"
	AttrFileSymlinkTarget    = "file.symbolic_link.target_path"
)

// PreviousIDAttrs are the names of the previous ids of a credentials
// change, which a provider lists in Incomplete together when it does not
// know them: effective, real, saved and file-system user id, then the same
// group ids (the exporter's order).
func PreviousIDAttrs() []string {
	return []string{
		"sensor.process.previous.user.id", "sensor.process.previous.real_user.id",
		"sensor.process.previous.saved_user.id", "sensor.process.previous.fs_user.id",
		"sensor.process.previous.group.id", "sensor.process.previous.real_group.id",
		"sensor.process.previous.saved_group.id", "sensor.process.previous.fs_group.id",
	}
}
