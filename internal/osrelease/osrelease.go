// Package osrelease reads os-release(5), the file that names the Linux
// distribution: for the resource's os.name and os.description, and for the
// kernel support policy.
package osrelease

import "strings"

// Files are where os-release(5) says to look, in order: the first that
// exists is the one.
var Files = []string{"/etc/os-release", "/usr/lib/os-release"}

// Parse reads the os-release(5) format: newline-separated shell-style
// KEY=value assignments, values optionally in single or double quotes, '#'
// comments. Lines that are not assignments are ignored, so any text gives
// a (possibly empty) map.
func Parse(text string) map[string]string {
	vars := make(map[string]string)
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			continue
		}
		vars[k] = unquote(v)
	}
	return vars
}

// unquote undoes the quoting os-release(5) allows in a value (sh rules:
// single quotes keep everything, double quotes and bare text honour
// backslash escapes).
func unquote(v string) string {
	var b strings.Builder
	var quote byte // the open quote, 0 outside quotes
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				b.WriteByte(c)
			}
		case c == '\\' && i+1 < len(v) && (quote == 0 || strings.IndexByte("$`\"\\", v[i+1]) >= 0):
			// Outside quotes a backslash escapes any character; inside
			// double quotes only $ ` " and \ (as in sh).
			i++
			b.WriteByte(v[i])
		case c == '"' && quote == '"':
			quote = 0
		case (c == '"' || c == '\'') && quote == 0:
			quote = c
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
