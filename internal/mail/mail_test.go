package mail

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestNormalizeAddress(t *testing.T) {
	cases := []struct {
		in, want string // want "" means an error
	}{
		{"alice@example.org", "alice@example.org"},
		{"Alice@EXAMPLE.org", "Alice@example.org"},
		{"  bob@x.org ", "bob@x.org"},
		{"Alice Smith <alice@Example.ORG>", "alice@example.org"},
		{"a.b+tag@sub.x.org", "a.b+tag@sub.x.org"},
		{"", ""},
		{"alice", ""},
		{"alice@", ""},
		{"@x.org", ""},
		{"alice@localhost", ""},
		{"alice@x.org.", ""},
		{`"a b"@x.org`, ""},
		{"a@[192.0.2.1]", ""},
		{"a@x.org\r\nBcc: e@evil.org", ""},
		{"a@x.org, b@x.org", ""},
		{"a\x00@x.org", ""},
		{strings.Repeat("a", 250) + "@x.org", ""},
		{"\xff@x.org", ""},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := NormalizeAddress(tc.in)
			if tc.want == "" {
				if !errors.Is(err, ErrInvalidAddress) {
					t.Fatalf("NormalizeAddress(%q) = %q, %v; want ErrInvalidAddress", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("NormalizeAddress(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestNormalizeRecipients(t *testing.T) {
	cases := []struct {
		name string
		in   []string
		max  int
		ok   bool
	}{
		{"three", []string{"a@x.org", "b@x.org", "c@x.org"}, 3, true},
		{"empty", []string{}, 3, false},
		{"over the limit", []string{"a@x.org", "b@x.org"}, 1, false},
		{"duplicate after normalising", []string{"a@x.org", "A <a@X.ORG>"}, 5, false},
		{"duplicate in other case", []string{"a@x.org", "A@x.org"}, 5, false},
		{"one bad", []string{"a@x.org", "nope"}, 5, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := NormalizeRecipients(tc.in, tc.max)
			if tc.ok != (err == nil) || !tc.ok && !errors.Is(err, ErrInvalidAddress) {
				t.Fatalf("NormalizeRecipients(%q, %d) = %v, %v; want ok %v", tc.in, tc.max, out, err, tc.ok)
			}
		})
	}
}

func TestLoadKey(t *testing.T) {
	dir := t.TempDir()
	hex := NewKey()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name, spec string
		ok         bool
	}{
		{"hex", hex, true},
		{"hex file", write("hex", hex+"\n"), true},
		{"raw file", write("raw", strings.Repeat("k", KeySize)), true},
		{"empty", "", false},
		{"short hex", hex[:62], false},
		{"missing file", filepath.Join(dir, "nope"), false},
		{"short file", write("short", "abc"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k, err := LoadKey(tc.spec)
			if tc.ok && (err != nil || len(k) != KeySize) || !tc.ok && !errors.Is(err, ErrKey) {
				t.Fatalf("LoadKey = %d bytes, %v; want ok %v", len(k), err, tc.ok)
			}
			if err != nil && strings.Contains(err.Error(), hex) {
				t.Fatal("error message holds the key")
			}
		})
	}
}

func TestSealOpen(t *testing.T) {
	key, _ := LoadKey(NewKey())
	s, err := newSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	const code = "AAAAAAAAAAAAAAAAAAAAAAAA"
	sealed := s.seal("dlv_1", code)
	if strings.Contains(string(sealed), code) {
		t.Fatal("sealed bytes hold the code")
	}
	if got, err := s.open("dlv_1", sealed); err != nil || got != code {
		t.Fatalf("open = %q, %v; want the code", got, err)
	}
	other, _ := LoadKey(NewKey())
	o, _ := newSealer(other)
	for name, try := range map[string]func() (string, error){
		"other row": func() (string, error) { return s.open("dlv_2", sealed) },
		"other key": func() (string, error) { return o.open("dlv_1", sealed) },
		"truncated": func() (string, error) { return s.open("dlv_1", sealed[:10]) },
		"bit flipped": func() (string, error) {
			b := append([]byte(nil), sealed...)
			b[len(b)-1] ^= 1
			return s.open("dlv_1", b)
		},
	} {
		t.Run(name, func(t *testing.T) {
			if got, err := try(); !errors.Is(err, ErrKey) || got != "" {
				t.Fatalf("open = %q, %v; want ErrKey", got, err)
			}
		})
	}
	if _, err := newSealer(key[:16]); !errors.Is(err, ErrKey) {
		t.Fatalf("newSealer(16 bytes) = %v; want ErrKey", err)
	}
}

func TestTemplates(t *testing.T) {
	data := ShareData{Sharer: "alice", Recipient: "bob@x.org", Filename: `<b>q3</b>.pdf`, Note: "see p. 4",
		URL: "https://share.example/s/CODE", ExpiresAt: time.Date(2030, 1, 2, 3, 4, 0, 0, time.UTC), ExpiresIn: "3 days"}
	t.Run("built-in", func(t *testing.T) {
		tm, err := LoadTemplates("")
		if err != nil {
			t.Fatal(err)
		}
		r, err := tm.render(KindShare, data)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"alice", "see p. 4", "https://share.example/s/CODE", "3 days"} {
			if !strings.Contains(r.Text, want) || !strings.Contains(r.HTML, want) {
				t.Errorf("bodies lack %q", want)
			}
		}
		if strings.Contains(r.HTML, "<b>q3</b>") || !strings.Contains(r.HTML, "&lt;b&gt;q3") {
			t.Error("HTML body does not escape the file name")
		}
		if r.Subject != "alice shared <b>q3</b>.pdf with you" {
			t.Errorf("subject = %q", r.Subject)
		}
		n, err := tm.render(KindNotify, NotifyData{Sharer: "alice", Filename: "q3.pdf", Opens: []Open{{Recipient: "bob@x.org", At: data.ExpiresAt}}})
		if err != nil || n.Subject != "bob@x.org opened q3.pdf" {
			t.Fatalf("notify subject = %q, %v", n.Subject, err)
		}
	})
	t.Run("override", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "share.subject.tmpl"), []byte("Files from {{.Sharer}}\nBcc: x@y.org"), 0o600)
		tm, err := LoadTemplates(dir)
		if err != nil {
			t.Fatal(err)
		}
		r, _ := tm.render(KindShare, data)
		if r.Subject != "Files from alice Bcc: x@y.org" {
			t.Fatalf("subject = %q; want the operator's, on one line", r.Subject)
		}
		if !strings.Contains(r.Text, "https://share.example/s/CODE") {
			t.Fatal("the other templates are not the built-in ones")
		}
	})
	bad := []struct{ name, file, content string }{
		{"does not parse", "share.txt.tmpl", "{{.Sharer"},
		{"unknown name", "share.text.tmpl", "x"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, tc.file), []byte(tc.content), 0o600)
			if _, err := LoadTemplates(dir); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.file) {
				t.Fatalf("LoadTemplates = %v; want ErrConfig naming %s", err, tc.file)
			}
		})
	}
	t.Run("missing field", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "share.txt.tmpl"), []byte("{{.Nope}}"), 0o600)
		tm, err := LoadTemplates(dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tm.render(KindShare, data); err == nil {
			t.Fatal("render with an unknown field succeeded")
		}
	})
}

func TestHumanize(t *testing.T) {
	cases := []struct {
		d    time.Duration
		want string
	}{
		{72*time.Hour + 5*time.Minute, "3 days"},
		{7*24*time.Hour - time.Millisecond, "7 days"},
		{48 * time.Hour, "2 days"},
		{47 * time.Hour, "47 hours"},
		{2 * time.Hour, "2 hours"},
		{119 * time.Minute, "119 minutes"},
		{90 * time.Second, "2 minutes"},
		{time.Minute, "1 minute"},
		{59 * time.Second, "less than a minute"},
		{-time.Hour, "less than a minute"},
	}
	for _, tc := range cases {
		if got := Humanize(tc.d); got != tc.want {
			t.Errorf("Humanize(%s) = %q; want %q", tc.d, got, tc.want)
		}
	}
}

func TestDefaultBackoff(t *testing.T) {
	want := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute,
		16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour}
	for i, w := range want {
		if got := DefaultBackoff(i + 1); got != w {
			t.Errorf("DefaultBackoff(%d) = %s; want %s", i+1, got, w)
		}
	}
}

func TestNewSMTPSettings(t *testing.T) {
	cases := []struct {
		name string
		cfg  SMTPConfig
		port int // 0: an error
	}{
		{"starttls default port", SMTPConfig{Host: "smtp.x.org"}, 587},
		{"implicit tls", SMTPConfig{Host: "smtp.x.org", TLS: TLSImplicit}, 465},
		{"none", SMTPConfig{Host: "smtp.x.org", TLS: TLSNone}, 25},
		{"given port", SMTPConfig{Host: "smtp.x.org", Port: 2525}, 2525},
		{"no host", SMTPConfig{}, 0},
		{"bad tls", SMTPConfig{Host: "h", TLS: "ssl"}, 0},
		{"bad port", SMTPConfig{Host: "h", Port: 70000}, 0},
		{"password without user", SMTPConfig{Host: "h", Password: "p"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSMTP(tc.cfg)
			if tc.port == 0 {
				if !errors.Is(err, ErrConfig) {
					t.Fatalf("NewSMTP = %v; want ErrConfig", err)
				}
				return
			}
			if err != nil || !strings.HasSuffix(s.Addr(), ":"+strconv.Itoa(tc.port)) {
				t.Fatalf("NewSMTP = %v, %v; want port %d", s, err, tc.port)
			}
		})
	}
}
