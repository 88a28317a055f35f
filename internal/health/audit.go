package health

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Audit is the state of the kernel's audit subsystem as far as it costs
// syscalls. The sensor needs no audit rules; a rule left loaded, or an
// audit configuration locked with them, makes every syscall pay.
type Audit struct {
	// Checked is false when the state could not be read; Error says why.
	Checked bool   `json:"checked"`
	Error   string `json:"error,omitempty"`
	// Available is false when the kernel has no audit subsystem.
	Available bool `json:"available"`
	// Enabled is 0 (off), 1 (on) or 2 (on and locked until reboot:
	// auditctl -e 2, "immutable").
	Enabled uint32 `json:"enabled"`
	// DaemonPID is the audit daemon registered with the kernel; 0: none.
	DaemonPID uint32 `json:"daemon_pid"`
	// Rules counts the loaded rules; SyscallRules those checked on every
	// syscall of an audited task (the exit and entry lists, file watches
	// included).
	Rules        int `json:"rules"`
	SyscallRules int `json:"syscall_rules"`
	// SyscallRuleKeys are the keys (-k) of the syscall rules that have
	// one, to tell whose rules they are.
	SyscallRuleKeys []string `json:"syscall_rule_keys,omitempty"`
	// NeverTaskRule is set when "-a never,task" is loaded: new tasks get
	// no audit context and their syscalls skip audit altogether.
	NeverTaskRule bool `json:"never_task_rule"`
}

// auditTimeout bounds the wait for each of the kernel's answers.
const auditTimeout = 2 * time.Second

// CheckAudit reads the audit state of the running kernel over
// NETLINK_AUDIT (AUDIT_GET and AUDIT_LIST_RULES, as auditctl -s and -l
// do). It needs CAP_AUDIT_CONTROL in the initial user namespace; where it
// cannot read the state, Checked is false and Error says why.
func CheckAudit() Audit {
	c, err := netlink.Dial(unix.NETLINK_AUDIT, nil)
	if errors.Is(err, unix.EPROTONOSUPPORT) {
		return Audit{Checked: true} // no audit in this kernel: nothing costs
	}
	if err != nil {
		return Audit{Error: fmt.Sprintf("open audit netlink socket: %v", err)}
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(auditTimeout))
	a, err := ReadAudit(c)
	switch {
	case errors.Is(err, fs.ErrPermission):
		a.Error = fmt.Sprintf("%v (reading the audit state needs CAP_AUDIT_CONTROL: run as root)", err)
	case errors.Is(err, syscall.ECONNREFUSED):
		a.Error = fmt.Sprintf("%v (the kernel answers audit requests only in the initial user namespace)", err)
	case err != nil:
		a.Error = err.Error()
	}
	return a
}

// ReadAudit reads the audit status and rules over c, a NETLINK_AUDIT
// connection.
func ReadAudit(c *netlink.Conn) (Audit, error) {
	// No acknowledgement is asked for: the kernel sends its answers from
	// another thread, so an acknowledgement could overtake them. An error
	// is sent anyway.
	req, err := c.Send(netlink.Message{Header: netlink.Header{Type: unix.AUDIT_GET, Flags: netlink.Request}})
	if err != nil {
		return Audit{}, fmt.Errorf("request audit status: %w", err)
	}
	var a Audit
	for got := false; !got; {
		msgs, err := c.Receive()
		if err != nil {
			return Audit{}, fmt.Errorf("read audit status: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Type != unix.AUDIT_GET || m.Header.Sequence != req.Header.Sequence {
				continue
			}
			if a.Enabled, a.DaemonPID, err = parseAuditStatus(m.Data); err != nil {
				return Audit{}, err
			}
			got = true
		}
	}
	a.Available = true

	req, err = c.Send(netlink.Message{Header: netlink.Header{Type: unix.AUDIT_LIST_RULES, Flags: netlink.Request}})
	if err != nil {
		return Audit{}, fmt.Errorf("request audit rules: %w", err)
	}
	// The rules come as a multi-part answer that Receive gathers up to its
	// end (NLMSG_DONE, also when there are none).
	msgs, err := c.Receive()
	if err != nil {
		return Audit{}, fmt.Errorf("read audit rules: %w", err)
	}
	for _, m := range msgs {
		if m.Header.Type != unix.AUDIT_LIST_RULES || m.Header.Sequence != req.Header.Sequence {
			continue
		}
		rule, err := parseAuditRule(m.Data)
		if err != nil {
			return Audit{}, err
		}
		a.Rules++
		switch {
		case rule.list == unix.AUDIT_FILTER_EXIT || rule.list == unix.AUDIT_FILTER_ENTRY || rule.list == unix.AUDIT_FILTER_WATCH:
			a.SyscallRules++
			if rule.key != "" {
				a.SyscallRuleKeys = append(a.SyscallRuleKeys, rule.key)
			}
		case rule.list == unix.AUDIT_FILTER_TASK && rule.action == unix.AUDIT_NEVER:
			a.NeverTaskRule = true
		}
	}
	a.Checked = true
	return a, nil
}

// parseAuditStatus reads enabled and pid from struct audit_status (mask,
// enabled, failure, pid, ...: native-endian u32s; newer kernels append
// fields).
func parseAuditStatus(b []byte) (enabled, pid uint32, err error) {
	if len(b) < 16 {
		return 0, 0, fmt.Errorf("decode audit status: %d bytes, want at least 16", len(b))
	}
	return binary.NativeEndian.Uint32(b[4:]), binary.NativeEndian.Uint32(b[12:]), nil
}

// auditRule is what the health check reads of a rule.
type auditRule struct {
	list, action uint32
	key          string
}

// The layout of struct audit_rule_data: flags, action, field_count, then
// mask, fields, values and fieldflags (AUDIT_MAX_FIELDS u32s each), buflen
// and buf, the string values of the fields in order.
const (
	auditMaxFields  = 64
	auditFieldsOff  = 12 + 4*auditMaxFields
	auditValuesOff  = auditFieldsOff + 4*auditMaxFields
	auditBuflenOff  = auditValuesOff + 8*auditMaxFields
	auditRuleHeader = auditBuflenOff + 4
)

// parseAuditRule reads the filter list (flags without
// AUDIT_FILTER_PREPEND), the action and the key of struct audit_rule_data.
func parseAuditRule(b []byte) (auditRule, error) {
	if len(b) < auditRuleHeader {
		return auditRule{}, fmt.Errorf("decode audit rule: %d bytes, want at least %d", len(b), auditRuleHeader)
	}
	u32 := func(off int) uint32 { return binary.NativeEndian.Uint32(b[off:]) }
	r := auditRule{list: u32(0) &^ unix.AUDIT_FILTER_PREPEND, action: u32(4)}
	count := int(min(u32(8), auditMaxFields))
	buf := b[auditRuleHeader:]
	if n := u32(auditBuflenOff); uint64(n) < uint64(len(buf)) {
		buf = buf[:n]
	}
	for i := range count {
		if !stringField(u32(auditFieldsOff + 4*i)) {
			continue
		}
		n := u32(auditValuesOff + 4*i) // the string's length
		if uint64(n) > uint64(len(buf)) {
			return auditRule{}, fmt.Errorf("decode audit rule: field %d needs %d bytes of %d left", i, n, len(buf))
		}
		if u32(auditFieldsOff+4*i) == unix.AUDIT_FILTERKEY {
			// Several keys are joined by \x01 (AUDIT_KEY_SEPARATOR).
			r.key = strings.ReplaceAll(string(buf[:n]), "\x01", ",")
		}
		buf = buf[n:]
	}
	return r, nil
}

// stringField reports whether a rule field's value is a string in buf
// (kernel/auditfilter.c, audit_data_to_entry).
func stringField(field uint32) bool {
	switch field {
	case unix.AUDIT_SUBJ_USER, unix.AUDIT_SUBJ_ROLE, unix.AUDIT_SUBJ_TYPE, unix.AUDIT_SUBJ_SEN, unix.AUDIT_SUBJ_CLR,
		unix.AUDIT_OBJ_USER, unix.AUDIT_OBJ_ROLE, unix.AUDIT_OBJ_TYPE, unix.AUDIT_OBJ_LEV_LOW, unix.AUDIT_OBJ_LEV_HIGH,
		unix.AUDIT_WATCH, unix.AUDIT_DIR, unix.AUDIT_FILTERKEY, unix.AUDIT_EXE:
		return true
	}
	return false
}
