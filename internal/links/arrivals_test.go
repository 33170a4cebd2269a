package links

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCleanFilename(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"report.pdf", "report.pdf"},
		{`C:\Users\ann\report.pdf`, "report.pdf"},
		{"../../etc/passwd", "passwd"},
		{"a\x00b\x1bc\r\nd.txt", "abcd.txt"},
		{"evil\u202etxt.exe", "eviltxt.exe"}, // a right-to-left override would disguise the extension
		{"..", ""},
		{"dir/", ""},
		{"  spaced  ", "spaced"},
		{"bad\xffutf8", "bad\uFFFDutf8"},
	} {
		if got := CleanFilename(c.in); got != c.want {
			t.Errorf("CleanFilename(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	long := CleanFilename(strings.Repeat("ü", 300))
	if len(long) > MaxFilenameBytes || !utf8.ValidString(long) || len(long) != 254 {
		t.Errorf("a 600-byte name became %d bytes (valid UTF-8: %v)", len(long), utf8.ValidString(long))
	}
}
