package policy

import "strings"

// CompareVersions orders two kernel (or distribution) versions as rpm
// orders package versions, which is also how the kernel release strings of
// the distributions in Minimums are numbered ("3.10.0-957.10.1.el7.x86_64",
// "5.3.18-24.37-default", "4.15.0-213-generic"). It returns -1 when a is
// older than b, 0 when they are the same, +1 when a is newer.
//
// Each string is split at its first '-' into a version and a release; the
// versions are compared first and, when they are equal, the releases —
// unless one of them has none, in which case it matches any release
// ("4.15.0" is the same as "4.15.0-213-generic", as an rpm dependency on a
// version without release is). Versions and releases are compared segment
// by segment as rpmvercmp does: a segment is a run of digits or a run of
// ASCII letters, anything else separates segments; digit runs compare as
// numbers (leading zeros ignored), letter runs as strings, and a digit
// segment is newer than a letter segment ("957.10" > "957.el7"); when one
// string runs out of segments first, the other is newer, except that '~'
// sorts before everything, even the end ("5.0~rc1" < "5.0"), and '^' sorts
// after the end but before anything else.
func CompareVersions(a, b string) int {
	av, ar, _ := strings.Cut(a, "-")
	bv, br, _ := strings.Cut(b, "-")
	if c := vercmp(av, bv); c != 0 || ar == "" || br == "" {
		return c
	}
	return vercmp(ar, br)
}

// vercmp is rpmvercmp (rpm's rpmio/rpmvercmp.c), on Go strings.
func vercmp(a, b string) int {
	if a == b {
		return 0
	}
	for {
		a, b = skipSeparators(a), skipSeparators(b)

		// '~' sorts before anything, the end of the string included.
		if strings.HasPrefix(a, "~") || strings.HasPrefix(b, "~") {
			if !strings.HasPrefix(a, "~") {
				return 1
			}
			if !strings.HasPrefix(b, "~") {
				return -1
			}
			a, b = a[1:], b[1:]
			continue
		}
		// '^' sorts after the end of the string, before anything else.
		if strings.HasPrefix(a, "^") || strings.HasPrefix(b, "^") {
			switch {
			case a == "":
				return -1
			case b == "":
				return 1
			case a[0] != '^':
				return 1
			case b[0] != '^':
				return -1
			}
			a, b = a[1:], b[1:]
			continue
		}
		if a == "" || b == "" {
			break
		}

		numeric := isDigit(a[0])
		class := isAlpha
		if numeric {
			class = isDigit
		}
		sa, sb := span(a, class), span(b, class)
		if sb == "" {
			// Segments of different kinds: digits are newer.
			if numeric {
				return 1
			}
			return -1
		}
		a, b = a[len(sa):], b[len(sb):]
		if numeric {
			sa, sb = strings.TrimLeft(sa, "0"), strings.TrimLeft(sb, "0")
			if len(sa) != len(sb) {
				return cmp(len(sa), len(sb))
			}
		}
		if c := strings.Compare(sa, sb); c != 0 {
			return c
		}
	}
	switch {
	case a == "" && b == "":
		return 0
	case a == "":
		return -1
	}
	return 1
}

func cmp(x, y int) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isAlpha(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' }

// skipSeparators drops the leading bytes that are neither ASCII letters
// or digits nor '~' or '^'.
func skipSeparators(s string) string {
	i := 0
	for i < len(s) && !isDigit(s[i]) && !isAlpha(s[i]) && s[i] != '~' && s[i] != '^' {
		i++
	}
	return s[i:]
}

// span returns the leading run of s of bytes in class.
func span(s string, class func(byte) bool) string {
	i := 0
	for i < len(s) && class(s[i]) {
		i++
	}
	return s[:i]
}
