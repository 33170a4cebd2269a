package server

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sharesvc/sharesvc/internal/app"
	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/mail"
)

// mailScanners are substrings (lower case) of the User-Agent of mail link
// checkers and Office's link pre-fetch, which open a link before the person
// does. Together with the chat unfurlers of preview.go they never mint on
// a link with confirm set: they get the page, GET or POST.
var mailScanners = []string{
	"microsoft office", "ms-office", "msoffice", "outlook", "google-safety",
	"proofpoint", "mimecast", "barracuda", "safelinks",
}

// isScanner reports whether ua is a known preview agent or mail scanner.
func isScanner(ua string) bool {
	if isPreviewBot(ua) {
		return true
	}
	ua = strings.ToLower(ua)
	for _, p := range mailScanners {
		if strings.Contains(ua, p) {
			return true
		}
	}
	return false
}

// confirmReason says why a GET or POST for live link l gets the
// confirmation page instead of a URL: "preview" for a preview agent or
// mail scanner (a GET of a plain link by a preview bot is answered before,
// by answerPreview),
// "confirm_page" for a GET of a link with confirm set from a browser (or
// from any client when the link does not allow direct redirects), or ""
// when the request mints.
func (s *Server) confirmReason(r *http.Request, l *links.Link) string {
	if (r.Method == http.MethodPost || l.Confirm) && isScanner(r.UserAgent()) {
		return "preview"
	}
	if r.Method == http.MethodGet && l.Confirm && (wantsHTML(r) || !l.Direct) {
		return "confirm_page"
	}
	return ""
}

// confirmData is all the confirmation page shows: what, from whom, and
// until when. Nothing else about the link or the object.
type confirmData struct {
	Filename  string
	Sharer    string // display name, or the token's name
	Note      string // the sharer's note
	ExpiresIn string
	Verify    bool   // the recipient will be asked for a mailed code
	Size      string // "2.4 MB"; "" when the link does not know the size
	Bytes     string // the exact size, "2,400,000 bytes"
}

// confirmPage answers with the page whose button POSTs back to the same
// URL, which mints. It mints nothing and spends nothing, and is audited as
// nothing_minted with reason ("confirm_page" or "preview").
func (s *Server) confirmPage(w http.ResponseWriter, r *http.Request, l *links.Link, ev audit.Event, reason string) error {
	setConfirmHeaders(w.Header(), s.confirmCSP())
	if reason == "preview" {
		// An unfurler gets the generic page: it would show a file name
		// and the sharer's name to a whole chat channel.
		return s.answerPreview(w, r, ev)
	}
	if err := s.nothingMinted(r, ev, reason); err != nil {
		return err
	}
	d := confirmData{
		Filename: app.DisplayName(l), Sharer: s.sharerName(r.Context(), l), Note: l.Note,
		ExpiresIn: mail.Humanize(l.ExpiresAt.Sub(s.now())), Verify: l.VerifyRecipient,
	}
	if l.ObjectBytes != nil {
		d.Size, d.Bytes = humanBytes(*l.ObjectBytes), groupDigits(*l.ObjectBytes)+" bytes"
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	return confirmTemplate.Execute(w, d)
}

// groupDigits writes n with a comma between groups of three digits.
func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// setConfirmHeaders adds, to the share headers already set, a strict CSP
// and a frame ban for the pages answered instead of a redirect.
func setConfirmHeaders(h http.Header, csp string) {
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "DENY")
}

// confirmStyle is the page's only style; the CSP allows exactly it by hash.
const confirmStyle = `body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}` +
	`h1{font-size:1.3rem;word-break:break-word}button{font:inherit;padding:.6rem 1.4rem;border:0;border-radius:4px;` +
	`background:#0b57d0;color:#fff;cursor:pointer}small{color:#777}`

var confirmStyleHash = func() string {
	h := sha256.Sum256([]byte(confirmStyle))
	return "'sha256-" + base64.StdEncoding.EncodeToString(h[:]) + "'"
}()

// confirmCSP allows no script, no images, only the page's own style, and
// form submission to this service and, for the redirect that follows it,
// the object store.
func (s *Server) confirmCSP() string {
	return "default-src 'none'; style-src " + confirmStyleHash + "; form-action " + s.storeTargets() +
		"; frame-ancestors 'none'; base-uri 'none'"
}

// storeTargets is the CSP source list of a page that sends the browser on
// to the object store, whose origin it cannot know in advance: this
// service and any https origin, and http too when this service is served
// over http, as in local setups.
func (s *Server) storeTargets() string {
	if strings.HasPrefix(s.cfg.PublicURL, "http:") {
		return "'self' https: http:"
	}
	return "'self' https:"
}

var confirmTemplate = template.Must(template.New("confirm").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex"><meta name="referrer" content="no-referrer">
<title>Download {{.Filename}}</title>
<style>` + confirmStyle + `</style></head>
<body><h1>Download {{.Filename}} from {{.Sharer}}</h1>
{{if .Size}}<p id="size">Size: <span title="{{.Bytes}}">{{.Size}}</span>{{if ne .Size .Bytes}} <small>({{.Bytes}})</small>{{end}}</p>{{end}}
{{if .Note}}<p id="note">{{.Note}}</p>{{end}}
<p>This link expires in {{.ExpiresIn}}.</p>
{{if .Verify}}<p>You will be asked for a code that we mail to the address this link was sent to.</p>{{end}}
<form method="post"><button type="submit">Download</button></form>
<p><small>The download starts only when you press the button.</small></p></body></html>
`))

// recipientDetail is the audit detail of an open of a recipient's link:
// which recipient and which share. "" for plain links.
func recipientDetail(l *links.Link) string {
	if l.Recipient == "" {
		return ""
	}
	b, _ := json.Marshal(map[string]string{"recipient": l.Recipient, "share_id": l.ShareID})
	return string(b)
}

// joinDetail merges two audit detail objects (either may be ""); on a
// key in both, b wins.
func joinDetail(a, b string) string {
	if a == "" || b == "" {
		return a + b
	}
	m := map[string]any{}
	json.Unmarshal([]byte(a), &m)
	json.Unmarshal([]byte(b), &m)
	out, _ := json.Marshal(m)
	return string(out)
}

// firstOpen runs inside the transaction that spends a use of l: on a share
// link's first minted open it records the time and, when the share asks to
// be told, queues the notice, so the notice is queued exactly once. It
// reports whether it queued one.
func (s *Server) firstOpen(ctx context.Context, tx *sql.Tx, l *links.Link, now time.Time) (bool, error) {
	if l.ShareID == "" {
		return false, nil
	}
	first, err := links.MarkFirstOpen(ctx, tx, l.ID, now)
	if err != nil || !first || l.Notify == "" || s.mail == nil {
		return false, err
	}
	err = s.mail.QueueNotify(ctx, tx, mail.NotifyMessage{
		ShareID: l.ShareID, LinkID: l.ID, To: l.Notify, Mode: l.NotifyMode,
		Sharer: l.CreatedBy, Filename: app.DisplayName(l), Recipient: l.Recipient, At: now.UTC(),
	})
	return err == nil, err
}
