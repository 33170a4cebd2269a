package links

import (
	"mime"
	"net/url"
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

func TestNameHeaders(t *testing.T) {
	for _, tc := range []struct{ name, disposition, meta string }{
		{"", "", ""},
		{"report.pdf", `attachment; filename="report.pdf"; filename*=UTF-8''report.pdf`, "report.pdf"},
		{`Grüße "Q3" report.pdf`, `attachment; filename="Gr__e _Q3_ report.pdf"; filename*=UTF-8''Gr%C3%BC%C3%9Fe%20%22Q3%22%20report.pdf`,
			"Gr%C3%BC%C3%9Fe%20%22Q3%22%20report.pdf"},
		{`a\b;c,d%e'f*g`, `attachment; filename="a_b;c,d%e'f*g"; filename*=UTF-8''a%5Cb%3Bc%2Cd%25e%27f%2Ag`, "a%5Cb%3Bc%2Cd%25e%27f%2Ag"},
		{"日本.txt", `attachment; filename="__.txt"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.txt`, "%E6%97%A5%E6%9C%AC.txt"},
	} {
		d, m := NameHeaders(tc.name)
		if d != tc.disposition || m != tc.meta {
			t.Errorf("NameHeaders(%q) = %q, %q; want %q, %q", tc.name, d, m, tc.disposition, tc.meta)
		}
		if got, err := url.PathUnescape(m); err != nil || got != tc.name {
			t.Errorf("PathUnescape(%q) = %q, %v; want the name back", m, got, err)
		}
		if _, params, err := mime.ParseMediaType(d); tc.name != "" && (err != nil || params["filename"] != tc.name) {
			t.Errorf("ParseMediaType(%q) = %q, %v; want filename %q from filename*", d, params["filename"], err, tc.name)
		}
	}
}
