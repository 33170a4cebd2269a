package server

import (
	"strings"
	"testing"

	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/mail"
)

func TestJoinDetail(t *testing.T) {
	cases := []struct{ a, b, want string }{
		{"", "", ""},
		{`{"recipient":"a@x.org"}`, "", `{"recipient":"a@x.org"}`},
		{"", `{"limit":"link"}`, `{"limit":"link"}`},
		{`{"recipient":"a@x.org","share_id":"shr_1"}`, `{"limit":"link"}`, `{"limit":"link","recipient":"a@x.org","share_id":"shr_1"}`},
	}
	for _, tc := range cases {
		if got := joinDetail(tc.a, tc.b); got != tc.want {
			t.Errorf("joinDetail(%q, %q) = %q; want %q", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestIsScanner(t *testing.T) {
	cases := []struct {
		ua   string
		want bool
	}{
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36", false},
		{"curl/8.5.0", false},
		{"Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", true},
		{"Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)", true},
		{"Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328; Pro)", true},
		{"Mozilla/4.0 (compatible; ms-office; MSOffice 16)", true},
		{"Google-Safety", true},
		{"WhatsApp/2.23.20.0", true},
		{"TelegramBot (like TwitterBot)", true},
	}
	for _, tc := range cases {
		if got := isScanner(tc.ua); got != tc.want {
			t.Errorf("isScanner(%q) = %v; want %v", tc.ua, got, tc.want)
		}
	}
	if csp := (&Server{cfg: Config{PublicURL: "https://share.example"}}).confirmCSP(); strings.Contains(csp, "http:") || !strings.Contains(csp, confirmStyleHash) {
		t.Errorf("CSP for an https service = %q; want https targets and the style hash", csp)
	}
}

// The page's style is byte for byte what the CSP hash allows, and values
// are escaped.
func TestConfirmTemplate(t *testing.T) {
	var b strings.Builder
	if err := confirmTemplate.Execute(&b, confirmData{Filename: `<img src=x>.pdf`, Sharer: "alice", ExpiresIn: "3 days"}); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if !strings.Contains(page, "<style>"+confirmStyle+"</style>") {
		t.Error("the rendered style differs from the hashed one")
	}
	if strings.Contains(page, "<img") || !strings.Contains(page, "&lt;img src=x&gt;.pdf") {
		t.Error("file name not escaped")
	}
	if strings.Contains(page, "action=") {
		t.Error("the form names a target; it must post back to the page's own URL")
	}
}

// The link's notify_mode is handed to the mailer as is.
func TestNotifyModesAgree(t *testing.T) {
	if links.NotifyFirst != mail.ModeFirst || links.NotifyDigest != mail.ModeDigest {
		t.Fatal("links and mail name the notify modes differently")
	}
}
