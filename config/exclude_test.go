package config

import (
	"errors"
	"slices"
	"testing"
)

func TestExcludeFromFile(t *testing.T) {
	file := writeFile(t, `exclude:
  initiators:
    - path: /usr/bin/backup
    - path: /usr/sbin/logrotate
      descendants: true
  paths: [/var/log/journal, /tmp/x]
  syscalls: [openat, "83"]
`)
	cfg, err := Load(Sources{File: file})
	if err != nil {
		t.Fatal(err)
	}
	x := cfg.Exclude
	want := []ExcludedInitiator{{"/usr/bin/backup", false}, {"/usr/sbin/logrotate", true}}
	if !slices.Equal(x.Initiators, want) || !slices.Equal(x.Paths, []string{"/var/log/journal", "/tmp/x"}) {
		t.Fatalf("got %+v", x)
	}
	ids, err := x.SyscallNumbers(func(name string) (int, bool) { return map[string]int{"openat": 257}[name], name == "openat" })
	if err != nil || !slices.Equal(ids, []int{257, 83}) {
		t.Fatalf("syscalls %v %v", ids, err)
	}
	_, err = Exclude{Syscalls: []string{"frobnicate"}}.SyscallNumbers(func(string) (int, bool) { return 0, false })
	var ce *Error
	if !errors.As(err, &ce) || ce.Key != "exclude.syscalls[0]" {
		t.Fatalf("unknown syscall: %v", err)
	}
}

func TestExcludeErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, key string
	}{
		{"relative initiator", "exclude:\n  initiators:\n    - path: bin/x\n", "exclude.initiators[0].path"},
		{"relative path", "exclude:\n  paths: [var/log]\n", "exclude.paths[0]"},
		{"unknown key in an initiator", "exclude:\n  initiators:\n    - path: /x\n      children: true\n", "exclude.initiators"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(Sources{File: writeFile(t, tc.yaml)})
			var ce *Error
			if !errors.As(err, &ce) || ce.Key != tc.key {
				t.Fatalf("got %v, want an error naming %s", err, tc.key)
			}
		})
	}
}
