// Package web holds the console's pages: html/template files, one small
// style sheet and two small scripts, all built into the binary, plus the
// console's session store and the QR code renderer. It knows nothing about
// links, tokens or the audit log: internal/server fills the pages with what
// the API's own functions return.
package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	qrcode "github.com/skip2/go-qrcode"
)

//go:embed templates/*.html templates/*.tmpl
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// User is who is signed in, and what the pages may offer them. A page
// never shows an action its viewer cannot take.
type User struct {
	Name     string
	Role     string
	CanShare bool // create and revoke own links
	CanAdmin bool // every link, bulk revoke, offboarding, kill switch, tokens
	CanAudit bool // the audit log
}

// Page is what every console template sees; Data is the page's own.
type Page struct {
	Title  string
	User   *User // nil when signed out
	CSRF   string
	Nav    string // the section to highlight
	Error  string // a refusal shown at the top of the page
	Notice string
	Data   any
}

var funcs = template.FuncMap{
	"when": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			if v.IsZero() {
				return ""
			}
			return v.UTC().Format("2006-01-02 15:04:05Z")
		case *time.Time:
			if v == nil || v.IsZero() {
				return ""
			}
			return v.UTC().Format("2006-01-02 15:04:05Z")
		}
		return fmt.Sprint(t)
	},
	"qr":    QR,
	"deref": func(b *bool) bool { return b != nil && *b },
}

// pages are parsed once: each page file together with the layout.
var pages = func() map[string]*template.Template {
	m := map[string]*template.Template{}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" {
			continue
		}
		m[strings.TrimSuffix(base, ".html")] = template.Must(template.New("").Funcs(funcs).
			ParseFS(templateFS, "templates/layout.html", "templates/events.tmpl", n))
	}
	return m
}()

// Render writes page name with status. The page is rendered into memory
// first, so that a template error never leaves half a page.
func Render(w http.ResponseWriter, status int, name string, p *Page) error {
	t, ok := pages[name]
	if !ok {
		return fmt.Errorf("web: no page %q", name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "page", p); err != nil {
		return fmt.Errorf("web: render %s: %w", name, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, err := io.Copy(w, &buf)
	return err
}

// Static serves the built-in style sheet and scripts under prefix.
func Static(prefix string) http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	fsrv := http.StripPrefix(prefix, http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		fsrv.ServeHTTP(w, r)
	})
}

// HasStatic reports whether name is one of the built-in assets.
func HasStatic(name string) bool {
	f, err := staticFS.Open("static/" + name)
	if err != nil {
		return false
	}
	st, err := f.Stat()
	f.Close()
	return err == nil && !st.IsDir()
}

// QR renders text as a QR code in an inline SVG (no script, no image
// request: the console's CSP allows neither from elsewhere).
func QR(text string) (template.HTML, error) {
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		return "", err
	}
	bm := q.Bitmap() // includes the quiet zone
	n := len(bm)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="qr" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="QR code of the link" shape-rendering="crispEdges"><rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, n, n, n*5, n*5, n, n)
	for y, row := range bm {
		for x, dark := range row {
			if dark {
				fmt.Fprintf(&b, "M%d %dh1v1h-1z", x, y)
			}
		}
	}
	b.WriteString(`"/></svg>`)
	return template.HTML(b.String()), nil
}
