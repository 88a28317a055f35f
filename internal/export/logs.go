package export

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"golang.org/x/sys/unix"

	"github.com/otel-sensor/otel-sensor/internal/event"
)

// ScopeName is the instrumentation scope of everything the sensor exports.
const ScopeName = "otel-sensor"

// RawPrefix prefixes the name of the bytes attribute that keeps the exact
// original value of a string attribute that was not valid UTF-8.
const RawPrefix = "sensor.raw."

// Attribute names. Those without the sensor. prefix are OpenTelemetry
// semantic conventions.
const (
	attrPID                  = "process.pid"
	attrParentPID            = "process.parent_pid"
	attrExecutablePath       = event.AttrExecutablePath
	attrExecutableName       = "process.executable.name"
	attrCreationTime         = "process.creation.time"
	attrUserID               = "process.user.id"
	attrRealUserID           = "process.real_user.id"
	attrSavedUserID          = "process.saved_user.id"
	attrFSUserID             = "sensor.process.fs_user.id"
	attrGroupID              = "sensor.process.group.id"
	attrRealGroupID          = "sensor.process.real_group.id"
	attrSavedGroupID         = "sensor.process.saved_group.id"
	attrFSGroupID            = "sensor.process.fs_group.id"
	attrLoginUserID          = "sensor.process.login_user.id"
	attrCgroup               = event.AttrCgroup
	attrContainerID          = "container.id"
	attrParentExecutablePath = event.AttrParentExecutablePath
	attrComm                 = "sensor.process.comm"

	attrCommandArgs      = event.AttrCommandArgs
	attrArgsCount        = "process.args_count"
	attrWorkingDirectory = event.AttrWorkingDirectory
	attrSessionLeaderPID = "process.session_leader.pid"
	attrGroupLeaderPID   = "process.group_leader.pid"
	attrInteractive      = "process.interactive"
	attrTTY              = "sensor.process.tty"

	attrExitCode       = "process.exit.code"
	attrExitTime       = "process.exit.time"
	attrExitSignal     = "sensor.process.exit.signal"
	attrExitCoreDumped = "sensor.process.exit.core_dumped"

	attrPreviousUserID       = "sensor.process.previous.user.id"
	attrPreviousRealUserID   = "sensor.process.previous.real_user.id"
	attrPreviousSavedUserID  = "sensor.process.previous.saved_user.id"
	attrPreviousFSUserID     = "sensor.process.previous.fs_user.id"
	attrPreviousGroupID      = "sensor.process.previous.group.id"
	attrPreviousRealGroupID  = "sensor.process.previous.real_group.id"
	attrPreviousSavedGroupID = "sensor.process.previous.saved_group.id"
	attrPreviousFSGroupID    = "sensor.process.previous.fs_group.id"
	attrSyscallID            = "sensor.syscall.id"
	attrSyscallName          = "sensor.syscall.name"

	attrTruncated = "sensor.truncated"

	// ProcessViewPrefix + a path attribute's name: the path as the
	// process saw it in its own mount namespace (a container's), where the
	// attribute holds the host's view and the two differ.
	ProcessViewPrefix = "sensor.process_view."
	// attrHostPathUnknown lists the path attributes that hold the
	// process's view because the host's could not be named.
	attrHostPathUnknown = "sensor.host_path_unknown"
)

// cgroupV2Prefix makes a cgroup path a line of /proc/PID/cgroup on a
// cgroup v2 (unified) host: hierarchy 0, no controllers.
const cgroupV2Prefix = "0::"

// NewLogs maps events to log records under one ResourceLogs carrying res and
// one ScopeLogs named ScopeName with version res.Version, in event order.
func NewLogs(res Resource, events []*event.Event) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	res.copyTo(rl.Resource())
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName(ScopeName)
	sl.Scope().SetVersion(res.Version)
	records := sl.LogRecords()
	records.EnsureCapacity(len(events))
	for _, ev := range events {
		MapEvent(ev, records.AppendEmpty())
	}
	return ld
}

// MapEvent writes ev into the empty log record lr.
func MapEvent(ev *event.Event, lr plog.LogRecord) {
	lr.SetEventName(ev.Kind.Name())
	if !ev.Time.IsZero() {
		lr.SetTimestamp(pcommon.NewTimestampFromTime(ev.Time))
	}
	if !ev.Observed.IsZero() {
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(ev.Observed))
	}
	lr.SetSeverityNumber(plog.SeverityNumberInfo)
	lr.SetSeverityText("INFO")

	a := attrs{m: lr.Attributes()}
	a.m.EnsureCapacity(capacityHint(ev))
	a.process(&ev.Process, ev.Truncated)
	switch ev.Kind {
	case event.KindExec:
		if ev.Exec != nil {
			a.exec(ev.Exec)
		}
	case event.KindExit:
		if ev.Exit != nil {
			a.exit(ev.Exit, ev.Time)
		}
	case event.KindCredentialsChange:
		if ev.Credentials != nil {
			a.credentialsChange(ev.Credentials)
		}
	}
	if ev.File != nil {
		a.file(ev.Kind, ev.File)
	}
	if ev.Network != nil {
		a.network(ev.Network)
	}
	if len(ev.ProcessView) > 0 {
		for _, attr := range slices.Sorted(maps.Keys(ev.ProcessView)) {
			a.str(ProcessViewPrefix+attr, ev.ProcessView[attr])
		}
	}
	if len(ev.HostPathUnknown) > 0 {
		a.strs(attrHostPathUnknown, ev.HostPathUnknown)
	}
	if len(ev.Truncated) > 0 {
		a.strs(attrTruncated, ev.Truncated)
	}
	if len(ev.Incomplete) > 0 {
		// What the provider could not fill is absent, whatever default
		// its field holds (a bool has no "unknown").
		for _, name := range ev.Incomplete {
			a.m.Remove(name)
		}
		a.strs(attrIncomplete, ev.Incomplete)
	}
}

// capacityHint is the number of attributes ev will most likely get, so the
// map is allocated once.
func capacityHint(ev *event.Event) int {
	n := 18 // common attributes
	switch ev.Kind {
	case event.KindExec:
		n += 7
	case event.KindExit:
		n += 4
	case event.KindCredentialsChange:
		n += 10
	}
	if ev.File != nil || ev.Network != nil {
		n += 8
	}
	if len(ev.Truncated) > 0 {
		n++
	}
	n += len(ev.ProcessView)
	if len(ev.HostPathUnknown) > 0 {
		n++
	}
	return n
}

// attrs writes attributes into a map, keeping every string valid UTF-8.
type attrs struct {
	m pcommon.Map
}

func (a attrs) process(p *event.Process, truncated []string) {
	if p.PID != 0 {
		a.m.PutInt(attrPID, int64(p.PID))
	}
	if p.ParentPID != 0 {
		a.m.PutInt(attrParentPID, int64(p.ParentPID))
	}
	if p.ExecutablePath != "" {
		a.str(attrExecutablePath, p.ExecutablePath)
		if !slices.Contains(truncated, event.AttrExecutablePath) {
			if name := basename(p.ExecutablePath); name != "" {
				a.str(attrExecutableName, name)
			}
		}
	}
	if !p.StartTime.IsZero() {
		a.m.PutStr(attrCreationTime, timestamp(p.StartTime))
	}
	if c := p.Credentials; c != nil {
		a.m.PutInt(attrUserID, int64(c.EUID))
		a.m.PutInt(attrRealUserID, int64(c.UID))
		a.m.PutInt(attrSavedUserID, int64(c.SUID))
		a.m.PutInt(attrFSUserID, int64(c.FSUID))
		a.m.PutInt(attrGroupID, int64(c.EGID))
		a.m.PutInt(attrRealGroupID, int64(c.GID))
		a.m.PutInt(attrSavedGroupID, int64(c.SGID))
		a.m.PutInt(attrFSGroupID, int64(c.FSGID))
		if p.LoginUID != event.NoLoginUID {
			a.m.PutInt(attrLoginUserID, int64(p.LoginUID))
		}
	}
	if p.CgroupPath != "" {
		a.str(attrCgroup, cgroupV2Prefix+p.CgroupPath)
	}
	if p.ContainerID != "" {
		a.str(attrContainerID, p.ContainerID)
	}
	if p.ParentExecutablePath != "" {
		a.str(attrParentExecutablePath, p.ParentExecutablePath)
	}
	if p.Comm != "" {
		a.str(attrComm, p.Comm)
	}
}

func (a attrs) exec(e *event.Exec) {
	if len(e.Args) > 0 {
		a.strs(attrCommandArgs, e.Args)
	}
	if e.ArgsCount >= 0 {
		a.m.PutInt(attrArgsCount, int64(e.ArgsCount))
	}
	if e.WorkingDirectory != "" {
		a.str(attrWorkingDirectory, e.WorkingDirectory)
	}
	if e.SessionLeaderPID != 0 {
		a.m.PutInt(attrSessionLeaderPID, int64(e.SessionLeaderPID))
	}
	if e.GroupLeaderPID != 0 {
		a.m.PutInt(attrGroupLeaderPID, int64(e.GroupLeaderPID))
	}
	a.m.PutBool(attrInteractive, e.Interactive)
	if e.TTY != "" {
		a.str(attrTTY, e.TTY)
	}
}

func (a attrs) exit(e *event.Exit, at time.Time) {
	a.m.PutInt(attrExitCode, int64(e.Code))
	if !at.IsZero() {
		a.m.PutStr(attrExitTime, timestamp(at))
	}
	if e.Signal != 0 {
		a.m.PutInt(attrExitSignal, int64(e.Signal))
	}
	if e.CoreDumped {
		a.m.PutBool(attrExitCoreDumped, true)
	}
}

func (a attrs) credentialsChange(c *event.CredentialsChange) {
	prev := &c.Previous
	a.m.PutInt(attrPreviousUserID, int64(prev.EUID))
	a.m.PutInt(attrPreviousRealUserID, int64(prev.UID))
	a.m.PutInt(attrPreviousSavedUserID, int64(prev.SUID))
	a.m.PutInt(attrPreviousFSUserID, int64(prev.FSUID))
	a.m.PutInt(attrPreviousGroupID, int64(prev.EGID))
	a.m.PutInt(attrPreviousRealGroupID, int64(prev.GID))
	a.m.PutInt(attrPreviousSavedGroupID, int64(prev.SGID))
	a.m.PutInt(attrPreviousFSGroupID, int64(prev.FSGID))
	if c.SyscallID != 0 {
		a.m.PutInt(attrSyscallID, int64(c.SyscallID))
	}
	if c.SyscallName != "" {
		a.str(attrSyscallName, c.SyscallName)
	}
}

// File event attributes. file.* are semantic conventions; the rest are ours.
const (
	attrFilePath          = "file.path"
	attrFileName          = "file.name"
	attrFileDirectory     = "file.directory"
	attrFileMode          = "file.mode"
	attrFileOwnerID       = "file.owner.id"
	attrFileGroupID       = "file.group.id"
	attrFileSymlinkTarget = "file.symbolic_link.target_path"
	attrFilePrevious      = "sensor.file.previous_path"
	attrFileLinkSource    = "sensor.file.link.source_path"
	attrFileAccess        = "sensor.file.access"
	attrFileFlags         = "sensor.file.flags"
	attrFileCreated       = "sensor.file.created"
	attrFileTruncated     = "sensor.file.truncated"
	attrFileIsDirectory   = "sensor.file.is_directory"
	attrFileExchange      = "sensor.file.rename.exchange"
	attrFileNoReplace     = "sensor.file.rename.noreplace"
	attrErrorType         = "error.type"
	attrIncomplete        = "sensor.incomplete"
	attrSyscallErrno      = "sensor.syscall.errno"
)

func (a attrs) file(kind event.Kind, f *event.File) {
	if f.Path != "" {
		a.str(attrFilePath, f.Path)
		if strings.HasPrefix(f.Path, "/") {
			dir, name := path.Split(f.Path)
			if name != "" {
				a.str(attrFileName, name)
				a.str(attrFileDirectory, path.Clean(dir))
			}
		}
	}
	if f.PreviousPath != "" {
		a.str(attrFilePrevious, f.PreviousPath)
	}
	if f.SourcePath != "" {
		a.str(attrFileLinkSource, f.SourcePath)
	}
	if kind == event.KindFileSymlink {
		a.str(attrFileSymlinkTarget, f.SymlinkTarget)
	}
	switch kind {
	case event.KindFileOpen:
		a.m.PutStr(attrFileAccess, f.Access.String())
		a.strs(attrFileFlags, openFlagNames(f.Flags))
		a.m.PutBool(attrFileCreated, f.Created)
		a.m.PutBool(attrFileTruncated, f.Truncated)
	case event.KindFileDelete:
		a.m.PutBool(attrFileIsDirectory, f.Directory)
	case event.KindFileRename:
		if f.Exchange {
			a.m.PutBool(attrFileExchange, true)
		}
		if f.NoReplace {
			a.m.PutBool(attrFileNoReplace, true)
		}
	}
	if f.HasMode {
		a.m.PutStr(attrFileMode, fmt.Sprintf("%04o", f.Mode))
	}
	if f.OwnerID != event.NoID && kind == event.KindFileChown {
		a.m.PutStr(attrFileOwnerID, strconv.FormatUint(uint64(f.OwnerID), 10))
	}
	if f.GroupID != event.NoID && kind == event.KindFileChown {
		a.m.PutStr(attrFileGroupID, strconv.FormatUint(uint64(f.GroupID), 10))
	}
	if f.SyscallID != 0 {
		a.m.PutInt(attrSyscallID, int64(f.SyscallID))
	}
	if f.SyscallName != "" {
		a.m.PutStr(attrSyscallName, f.SyscallName)
	}
	if f.Errno != 0 {
		a.m.PutInt(attrSyscallErrno, int64(f.Errno))
		a.m.PutStr(attrErrorType, errnoName(f.Errno))
	}
}

// Network event attributes. network.* are semantic conventions.
const (
	attrNetTransport     = "network.transport"
	attrNetType          = "network.type"
	attrNetLocalAddress  = "network.local.address"
	attrNetLocalPort     = "network.local.port"
	attrNetPeerAddress   = "network.peer.address"
	attrNetPeerPort      = "network.peer.port"
	attrNetLocalAbstract = "sensor.network.local.abstract"
	attrNetPeerAbstract  = "sensor.network.peer.abstract"
	attrNetSocketType    = "sensor.network.socket.type"
	attrNetProtocol      = "sensor.network.protocol"
	attrNetInProgress    = "sensor.network.connect.in_progress"
	attrNetPeerFromCall  = "sensor.network.peer.requested"
)

// socketType names SOCK_* types.
func socketType(t int) string {
	switch t {
	case 1:
		return "stream"
	case 2:
		return "dgram"
	case 3:
		return "raw"
	case 5:
		return "seqpacket"
	}
	return ""
}

func (a attrs) network(n *event.Network) {
	if n.Transport != "" {
		a.m.PutStr(attrNetTransport, n.Transport)
	} else {
		a.m.PutInt(attrNetProtocol, int64(n.Protocol))
	}
	if n.Type != "" {
		a.m.PutStr(attrNetType, n.Type)
	}
	if t := socketType(n.SocketType); t != "" {
		a.m.PutStr(attrNetSocketType, t)
	}
	if n.LocalAddress != "" {
		a.str(attrNetLocalAddress, n.LocalAddress)
		if n.Type != "" {
			a.m.PutInt(attrNetLocalPort, int64(n.LocalPort))
		}
		if n.LocalAbstract {
			a.m.PutBool(attrNetLocalAbstract, true)
		}
	}
	if n.PeerAddress != "" {
		a.str(attrNetPeerAddress, n.PeerAddress)
		if n.Type != "" {
			a.m.PutInt(attrNetPeerPort, int64(n.PeerPort))
		}
		if n.PeerAbstract {
			a.m.PutBool(attrNetPeerAbstract, true)
		}
		if n.PeerFromCall {
			a.m.PutBool(attrNetPeerFromCall, true)
		}
	}
	if n.InProgress {
		a.m.PutBool(attrNetInProgress, true)
	}
	if n.SyscallID != 0 {
		a.m.PutInt(attrSyscallID, int64(n.SyscallID))
	}
	if n.SyscallName != "" {
		a.m.PutStr(attrSyscallName, n.SyscallName)
	}
	if n.Errno != 0 {
		a.m.PutInt(attrSyscallErrno, int64(n.Errno))
		a.m.PutStr(attrErrorType, errnoName(n.Errno))
	}
}

// openFlagNames names the O_* flags of an open (x86_64 values).
func openFlagNames(flags uint32) []string {
	names := make([]string, 0, 4)
	switch flags & 3 {
	case 0:
		names = append(names, "O_RDONLY")
	case 1:
		names = append(names, "O_WRONLY")
	default:
		names = append(names, "O_RDWR")
	}
	for _, f := range openFlags {
		if flags&f.bits == f.bits {
			names = append(names, f.name)
		}
	}
	return names
}

var openFlags = []struct {
	bits uint32
	name string
}{
	{0o100, "O_CREAT"}, {0o200, "O_EXCL"}, {0o400, "O_NOCTTY"}, {0o1000, "O_TRUNC"},
	{0o2000, "O_APPEND"}, {0o4000, "O_NONBLOCK"}, {0o10000, "O_DSYNC"}, {0o20000, "O_ASYNC"},
	{0o40000, "O_DIRECT"}, {0o200000, "O_DIRECTORY"}, {0o400000, "O_NOFOLLOW"},
	{0o1000000, "O_NOATIME"}, {0o2000000, "O_CLOEXEC"}, {0o4010000, "O_SYNC"},
	{0o10000000, "O_PATH"}, {0o20200000, "O_TMPFILE"},
}

// errnoName is the symbolic name of an errno ("EACCES"), or its number.
func errnoName(errno int) string {
	if name := unix.ErrnoName(unix.Errno(errno)); name != "" {
		return name
	}
	return strconv.Itoa(errno)
}

// str puts a string attribute. A value that is not valid UTF-8 is written
// with each invalid byte replaced by U+FFFD, and its exact bytes go to
// RawPrefix+k.
func (a attrs) str(k, v string) {
	if utf8.ValidString(v) {
		a.m.PutStr(k, v)
		return
	}
	a.m.PutStr(k, validUTF8(v))
	a.m.PutEmptyBytes(RawPrefix + k).FromRaw([]byte(v))
}

// strs puts a string array attribute. When any element is not valid UTF-8,
// RawPrefix+k holds the exact bytes of every element, so indices match.
func (a attrs) strs(k string, vs []string) {
	s := a.m.PutEmptySlice(k)
	s.EnsureCapacity(len(vs))
	valid := true
	for _, v := range vs {
		if utf8.ValidString(v) {
			s.AppendEmpty().SetStr(v)
			continue
		}
		valid = false
		s.AppendEmpty().SetStr(validUTF8(v))
	}
	if valid {
		return
	}
	raw := a.m.PutEmptySlice(RawPrefix + k)
	raw.EnsureCapacity(len(vs))
	for _, v := range vs {
		raw.AppendEmpty().SetEmptyBytes().FromRaw([]byte(v))
	}
}

// validUTF8 returns s with each byte that is not part of a valid UTF-8
// sequence replaced by U+FFFD: one replacement per invalid byte, so the
// count of bad bytes survives. (strings.ToValidUTF8 replaces a whole run of
// invalid bytes with a single replacement.) A U+FFFD already in s is kept.
func validUTF8(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	start := 0 // beginning of the pending run of valid bytes
	for i := 0; i < len(s); {
		if s[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString(s[start:i])
			b.WriteString("\uFFFD")
			i++
			start = i
			continue
		}
		i += size
	}
	b.WriteString(s[start:])
	return b.String()
}

// basename is the last element of a slash-separated path; empty when the
// path ends in a slash.
func basename(p string) string {
	return p[strings.LastIndexByte(p, '/')+1:]
}

// timestamp formats t as RFC 3339 with nanoseconds in UTC, the ISO 8601 form
// the semantic conventions use for process.creation.time and
// process.exit.time.
func timestamp(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}
