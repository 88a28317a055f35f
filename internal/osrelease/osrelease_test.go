package osrelease

import (
	"maps"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	text := "# comment\n" +
		"PRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\n" +
		"VERSION_CODENAME=trixie\n" +
		"\n" +
		"SUPPORT_URL='https://www.debian.org/support'\n" +
		"ESCAPED=\"say \\\"hi\\\" for \\$5 \\\\ back\\slash\"\n" +
		"SINGLE='keeps \\ and \"'\n" +
		"  INDENTED=unquoted\\ value  \n" +
		"not an assignment\n" +
		" BAD KEY=x\n" +
		"=no key\n" +
		"EMPTY=\n" +
		"LAST=no newline"
	want := map[string]string{
		"PRETTY_NAME":      "Debian GNU/Linux 13 (trixie)",
		"VERSION_CODENAME": "trixie",
		"SUPPORT_URL":      "https://www.debian.org/support",
		"ESCAPED":          `say "hi" for $5 \ back\slash`,
		"SINGLE":           `keeps \ and "`,
		"INDENTED":         "unquoted value",
		"EMPTY":            "",
		"LAST":             "no newline",
	}
	if got := Parse(text); !maps.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if got := Parse(""); len(got) != 0 {
		t.Errorf("empty text: %q", got)
	}
}

// Any text parses: keys are non-empty and without blanks, values hold no
// line break (one assignment is one line).
func FuzzParse(f *testing.F) {
	f.Add("ID=debian\nNAME=\"Debian\"\n")
	f.Add("X='a\\'b'\nY=\"\\\n")
	f.Fuzz(func(t *testing.T, text string) {
		for k, v := range Parse(text) {
			if k == "" || strings.ContainsAny(k, " \t\n") || strings.Contains(v, "\n") {
				t.Fatalf("%q = %q", k, v)
			}
		}
	})
}
