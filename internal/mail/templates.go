package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	texttemplate "text/template"
	"time"
)

//go:embed templates/*.tmpl
var builtin embed.FS

// ShareData is what a share message's templates see. Every field is safe to
// show the recipient; URL is the recipient's own link.
type ShareData struct {
	Sharer    string    // who shared (the creator's name)
	Recipient string    // the recipient's address
	Filename  string    // the download name, or the object key's last segment
	Note      string    // the sharer's note, "" for none
	URL       string    // the recipient's short link
	ExpiresAt time.Time // when the link stops working
	ExpiresIn string    // the same, as "3 days" from when the message is rendered
}

// Open is one recipient's first open, in a notice.
type Open struct {
	Recipient string
	At        time.Time
}

// NotifyData is what a first-open notice's templates see.
type NotifyData struct {
	Sharer   string // the sharer the notice goes to
	Filename string
	Digest   bool   // several opens in one summary
	Arrival  bool   // an upload arrived (Opens[0]: uploader's address and time); not an open
	Bytes    int64  // Arrival: the upload's size
	Opens    []Open // at least one
}

// CodeData is what a recipient verification code message's templates see.
type CodeData struct {
	Sharer   string // who shared (display name, or the token's name)
	Filename string
	Code     string // the one-time code
	ValidFor string // "10 minutes"
}

// templateNames are the files a template directory may hold; each one
// missing falls back to the built-in version.
var templateNames = []string{
	"share.subject.tmpl", "share.txt.tmpl", "share.html.tmpl",
	"notify.subject.tmpl", "notify.txt.tmpl", "notify.html.tmpl",
	"code.subject.tmpl", "code.txt.tmpl", "code.html.tmpl",
}

// Templates renders messages. Subjects and plain-text bodies are text
// templates; HTML bodies are html/template, so every value is escaped.
type Templates struct {
	text map[string]*texttemplate.Template
	html map[string]*htmltemplate.Template
}

// LoadTemplates parses the built-in templates, each replaced by the file of
// the same name in dir when dir is not "" and holds one. Errors: ErrConfig
// naming the file that does not parse or cannot be read, or an unknown
// *.tmpl file in dir (a misspelt name would otherwise be ignored silently).
func LoadTemplates(dir string) (*Templates, error) {
	t := &Templates{text: map[string]*texttemplate.Template{}, html: map[string]*htmltemplate.Template{}}
	known := map[string]bool{}
	for _, n := range templateNames {
		known[n] = true
	}
	if dir != "" {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("%w: template directory: %v", ErrConfig, err)
		}
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".tmpl") && !known[e.Name()] {
				return nil, fmt.Errorf("%w: template directory %s: unknown template %s (known: %s)",
					ErrConfig, dir, e.Name(), strings.Join(templateNames, ", "))
			}
		}
	}
	for _, n := range templateNames {
		src, err := fs.ReadFile(builtin, "templates/"+n)
		if err != nil {
			return nil, err
		}
		if dir != "" {
			b, err := os.ReadFile(filepath.Join(dir, n))
			switch {
			case err == nil:
				src = b
			case !errors.Is(err, fs.ErrNotExist):
				return nil, fmt.Errorf("%w: template %s: %v", ErrConfig, n, err)
			}
		}
		if strings.HasSuffix(n, ".html.tmpl") {
			h, err := htmltemplate.New(n).Option("missingkey=error").Parse(string(src))
			if err != nil {
				return nil, fmt.Errorf("%w: template %s: %v", ErrConfig, n, err)
			}
			t.html[n] = h
			continue
		}
		x, err := texttemplate.New(n).Option("missingkey=error").Parse(string(src))
		if err != nil {
			return nil, fmt.Errorf("%w: template %s: %v", ErrConfig, n, err)
		}
		t.text[n] = x
	}
	return t, nil
}

// rendered is a message's subject and bodies.
type rendered struct{ Subject, Text, HTML string }

// render runs the three templates of kind ("share" or "notify") on data.
func (t *Templates) render(kind string, data any) (rendered, error) {
	var r rendered
	var b bytes.Buffer
	if err := t.text[kind+".subject.tmpl"].Execute(&b, data); err != nil {
		return r, fmt.Errorf("render %s subject: %w", kind, err)
	}
	// A subject is one line: newlines would inject headers.
	r.Subject = strings.Join(strings.Fields(b.String()), " ")
	b.Reset()
	if err := t.text[kind+".txt.tmpl"].Execute(&b, data); err != nil {
		return r, fmt.Errorf("render %s text: %w", kind, err)
	}
	r.Text = b.String()
	b.Reset()
	if err := t.html[kind+".html.tmpl"].Execute(&b, data); err != nil {
		return r, fmt.Errorf("render %s html: %w", kind, err)
	}
	r.HTML = b.String()
	return r, nil
}

// Humanize returns d as a reader says it: "3 days", "5 hours", "1 minute",
// "less than a minute", rounded to the nearest unit (a link created for a
// week reads "7 days", not "6 days" a moment later).
func Humanize(d time.Duration) string {
	unit := func(d, u time.Duration, one string) string {
		n := int64((d + u/2) / u)
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %ss", n, one)
	}
	switch {
	case d >= 48*time.Hour:
		return unit(d, 24*time.Hour, "day")
	case d >= 2*time.Hour:
		return unit(d, time.Hour, "hour")
	case d >= time.Minute:
		return unit(d, time.Minute, "minute")
	}
	return "less than a minute"
}
