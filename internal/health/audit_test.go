package health

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"
	"golang.org/x/sys/unix"

	"github.com/otel-sensor/otel-sensor/internal/kerneltest"
)

// auditStatus is a struct audit_status as the kernel sends it.
func auditStatus(enabled, pid uint32) []byte {
	b := make([]byte, 44) // mask ... backlog_wait_time_actual (5.9+)
	binary.NativeEndian.PutUint32(b[4:], enabled)
	binary.NativeEndian.PutUint32(b[8:], 1) // failure
	binary.NativeEndian.PutUint32(b[12:], pid)
	return b
}

// field is one field of an audit rule; a string value goes to buf.
type field struct {
	typ, value uint32
	str        string
}

// auditRuleData is a struct audit_rule_data; syscalls set the mask.
func auditRuleData(list, action uint32, syscalls []int, fields ...field) []byte {
	var buf []byte
	b := make([]byte, auditRuleHeader)
	put := func(off int, v uint32) { binary.NativeEndian.PutUint32(b[off:], v) }
	put(0, list)
	put(4, action)
	put(8, uint32(len(fields)))
	for _, nr := range syscalls {
		put(12+4*(nr/32), binary.NativeEndian.Uint32(b[12+4*(nr/32):])|1<<(nr%32))
	}
	for i, f := range fields {
		put(auditFieldsOff+4*i, f.typ)
		v := f.value
		if f.str != "" {
			v = uint32(len(f.str))
			buf = append(buf, f.str...)
		}
		put(auditValuesOff+4*i, v)
		put(auditValuesOff+4*auditMaxFields+4*i, unix.AUDIT_EQUAL)
	}
	put(auditBuflenOff, uint32(len(buf)))
	return append(b, buf...)
}

func TestParseAuditRule(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		want auditRule
		err  bool
	}{
		{"never,task", auditRuleData(unix.AUDIT_FILTER_TASK, unix.AUDIT_NEVER, nil), auditRule{list: unix.AUDIT_FILTER_TASK, action: unix.AUDIT_NEVER}, false},
		{"syscall rule with arch and key", auditRuleData(unix.AUDIT_FILTER_EXIT, unix.AUDIT_ALWAYS, []int{59, 322},
			field{typ: unix.AUDIT_ARCH, value: unix.AUDIT_ARCH_X86_64}, field{typ: unix.AUDIT_FILTERKEY, str: "exec"}),
			auditRule{list: unix.AUDIT_FILTER_EXIT, action: unix.AUDIT_ALWAYS, key: "exec"}, false},
		{"watch: the path comes before the key", auditRuleData(unix.AUDIT_FILTER_EXIT|unix.AUDIT_FILTER_PREPEND, unix.AUDIT_ALWAYS, nil,
			field{typ: unix.AUDIT_WATCH, str: "/etc/passwd"}, field{typ: unix.AUDIT_PERM, value: 2}, field{typ: unix.AUDIT_FILTERKEY, str: "identity"}),
			auditRule{list: unix.AUDIT_FILTER_EXIT, action: unix.AUDIT_ALWAYS, key: "identity"}, false},
		{"two keys", auditRuleData(unix.AUDIT_FILTER_EXIT, unix.AUDIT_ALWAYS, nil, field{typ: unix.AUDIT_FILTERKEY, str: "a\x01b"}),
			auditRule{list: unix.AUDIT_FILTER_EXIT, action: unix.AUDIT_ALWAYS, key: "a,b"}, false},
		{"short", make([]byte, 100), auditRule{}, true},
		{"string longer than buf", func() []byte {
			b := auditRuleData(unix.AUDIT_FILTER_EXIT, unix.AUDIT_ALWAYS, nil, field{typ: unix.AUDIT_FILTERKEY, str: "k"})
			binary.NativeEndian.PutUint32(b[auditValuesOff:], 1000)
			return b
		}(), auditRule{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseAuditRule(tc.data)
			if (err != nil) != tc.err || got != tc.want {
				t.Errorf("got %+v, %v; want %+v (error %v)", got, err, tc.want, tc.err)
			}
		})
	}
}

// fakeAudit answers AUDIT_GET with status and AUDIT_LIST_RULES with rules,
// as the kernel does: the status alone, the rules as a multi-part answer.
func fakeAudit(status []byte, rules [][]byte, errno int) *netlink.Conn {
	return nltest.Dial(func(reqs []netlink.Message) ([]netlink.Message, error) {
		req := reqs[0]
		if errno != 0 {
			return nltest.Error(errno, reqs)
		}
		switch req.Header.Type {
		case unix.AUDIT_GET:
			return []netlink.Message{{Header: netlink.Header{Type: unix.AUDIT_GET, Sequence: req.Header.Sequence}, Data: status}}, nil
		case unix.AUDIT_LIST_RULES:
			var msgs []netlink.Message
			for _, r := range rules {
				msgs = append(msgs, netlink.Message{Header: netlink.Header{Type: unix.AUDIT_LIST_RULES, Flags: netlink.Multi, Sequence: req.Header.Sequence}, Data: r})
			}
			return append(msgs, netlink.Message{Header: netlink.Header{Type: netlink.Done, Flags: netlink.Multi, Sequence: req.Header.Sequence}}), nil
		}
		return nil, errors.New("unexpected request")
	})
}

func TestReadAudit(t *testing.T) {
	exec := auditRuleData(unix.AUDIT_FILTER_EXIT, unix.AUDIT_ALWAYS, []int{59}, field{typ: unix.AUDIT_FILTERKEY, str: "exec"})
	unkeyed := auditRuleData(unix.AUDIT_FILTER_EXIT, unix.AUDIT_ALWAYS, []int{2})
	never := auditRuleData(unix.AUDIT_FILTER_TASK, unix.AUDIT_NEVER, nil)
	exclude := auditRuleData(unix.AUDIT_FILTER_EXCLUDE, unix.AUDIT_NEVER, nil, field{typ: unix.AUDIT_MSGTYPE, value: 1300})
	for _, tc := range []struct {
		name   string
		status []byte
		rules  [][]byte
		errno  int
		want   Audit
		err    error
	}{
		{"off, no rules", auditStatus(0, 0), nil, 0, Audit{Checked: true, Available: true}, nil},
		{"off, never,task only (this machine between benchmarks)", auditStatus(0, 0), [][]byte{never}, 0,
			Audit{Checked: true, Available: true, Rules: 1, NeverTaskRule: true}, nil},
		{"auditd with rules", auditStatus(1, 1234), [][]byte{never, exec, unkeyed, exclude}, 0,
			Audit{Checked: true, Available: true, Enabled: 1, DaemonPID: 1234, Rules: 4, SyscallRules: 2, SyscallRuleKeys: []string{"exec"}, NeverTaskRule: true}, nil},
		{"locked", auditStatus(2, 99), [][]byte{exec}, 0,
			Audit{Checked: true, Available: true, Enabled: 2, DaemonPID: 99, Rules: 1, SyscallRules: 1, SyscallRuleKeys: []string{"exec"}}, nil},
		{"an old kernel's short status", auditStatus(1, 0)[:32], nil, 0, Audit{Checked: true, Available: true, Enabled: 1}, nil},
		{"not permitted", nil, nil, int(unix.EPERM), Audit{}, fs.ErrPermission},
		{"status too short", make([]byte, 8), nil, 0, Audit{}, errors.New("decode audit status")},
		{"rule too short", auditStatus(1, 0), [][]byte{make([]byte, 20)}, 0, Audit{}, errors.New("decode audit rule")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeAudit(tc.status, tc.rules, tc.errno)
			defer c.Close()
			got, err := ReadAudit(c)
			if tc.err != nil {
				if err == nil || !(errors.Is(err, tc.err) || strings.Contains(err.Error(), tc.err.Error())) {
					t.Fatalf("got %+v, %v; want error %v", got, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Checked != tc.want.Checked || got.Available != tc.want.Available || got.Enabled != tc.want.Enabled ||
				got.DaemonPID != tc.want.DaemonPID || got.Rules != tc.want.Rules || got.SyscallRules != tc.want.SyscallRules ||
				got.NeverTaskRule != tc.want.NeverTaskRule || !slices.Equal(got.SyscallRuleKeys, tc.want.SyscallRuleKeys) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func FuzzParseAuditRule(f *testing.F) {
	f.Add(auditRuleData(unix.AUDIT_FILTER_EXIT, unix.AUDIT_ALWAYS, []int{59}, field{typ: unix.AUDIT_WATCH, str: "/x"}, field{typ: unix.AUDIT_FILTERKEY, str: "k"}))
	f.Add(auditRuleData(unix.AUDIT_FILTER_TASK, unix.AUDIT_NEVER, nil))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseAuditRule(b)
		if err == nil && len(r.key) > len(b) {
			t.Fatalf("key of %d bytes from %d bytes", len(r.key), len(b))
		}
		parseAuditStatus(b)
	})
}

// auditRuleChange adds or deletes a rule over NETLINK_AUDIT, as auditctl -a
// and -d do.
func auditRuleChange(typ netlink.HeaderType, rule []byte) error {
	c, err := netlink.Dial(unix.NETLINK_AUDIT, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Execute(netlink.Message{Header: netlink.Header{Type: typ, Flags: netlink.Request | netlink.Acknowledge}, Data: rule})
	return err
}

// health reports an audit rule that is loaded, and stops reporting it once
// it is removed. The rule is loaded over NETLINK_AUDIT, so the test needs
// no auditctl; where auditctl is installed, it is asked to confirm that it
// sees the same rule.
func TestCheckAuditReportsLoadedRule(t *testing.T) {
	if os.Geteuid() != 0 {
		kerneltest.Unavailable(t, "needs root (CAP_AUDIT_CONTROL) to read and change audit rules")
	}
	before := CheckAudit()
	if !before.Checked {
		kerneltest.Unavailable(t, "the audit state cannot be read here: %s", before.Error)
	}
	if !before.Available {
		kerneltest.Unavailable(t, "the kernel has no audit subsystem")
	}
	if before.Enabled == 2 {
		kerneltest.Unavailable(t, "the audit configuration is locked (-e 2): no rule can be added")
	}
	const key = "otel-sensor-health-test"
	// -a always,exit -F arch=b64 -S acct -k otel-sensor-health-test: a
	// syscall nothing here calls, so the rule costs nothing while it is in.
	rule := auditRuleData(unix.AUDIT_FILTER_EXIT, unix.AUDIT_ALWAYS, []int{unix.SYS_ACCT},
		field{typ: unix.AUDIT_ARCH, value: unix.AUDIT_ARCH_X86_64}, field{typ: unix.AUDIT_FILTERKEY, str: key})
	if err := auditRuleChange(unix.AUDIT_ADD_RULE, rule); err != nil {
		t.Fatalf("add audit rule: %v", err)
	}
	removed := false
	t.Cleanup(func() {
		if !removed {
			if err := auditRuleChange(unix.AUDIT_DEL_RULE, rule); err != nil && !errors.Is(err, unix.ENOENT) {
				t.Errorf("remove audit rule %s: %v (remove it with auditctl -d always,exit -F arch=b64 -S acct -k %s)", key, err, key)
			}
		}
	})

	with := CheckAudit()
	if !slices.Contains(with.SyscallRuleKeys, key) || with.SyscallRules < 1 {
		t.Fatalf("the rule is not reported: %+v", with)
	}
	issues := auditIssues(with)
	if len(issues) != 1 || !strings.Contains(issues[0], key) || !strings.Contains(issues[0], "auditctl -D") {
		t.Errorf("issues %q do not report the rule %s with the fix", issues, key)
	}
	if auditctl, err := exec.LookPath("auditctl"); err == nil {
		out, err := exec.Command(auditctl, "-l").CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("-S acct")) || !bytes.Contains(out, []byte(key)) {
			t.Errorf("auditctl -l does not list the rule: %v\n%s", err, out)
		}
	}

	if err := auditRuleChange(unix.AUDIT_DEL_RULE, rule); err != nil {
		t.Fatalf("remove audit rule: %v", err)
	}
	removed = true
	after := CheckAudit()
	if slices.Contains(after.SyscallRuleKeys, key) {
		t.Fatalf("the rule is still reported after it was removed: %+v", after)
	}
	for _, s := range auditIssues(after) {
		if strings.Contains(s, key) {
			t.Errorf("issue still names the removed rule: %s", s)
		}
	}
}
