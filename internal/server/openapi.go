package server

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"net/http"
	"slices"
	"sort"
	"strings"
)

// openAPIDoc describes every route; a test walks the router and fails if
// the two disagree, and every response the server's tests get is checked
// against it.
//
//go:embed openapi.json
var openAPIDoc []byte

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, err := w.Write(openAPIDoc)
	return err
}

// apiDocs answers GET /api/docs: the document as one page, rendered here
// from the embedded file, with no script and nothing fetched from
// elsewhere.
func (s *Server) apiDocs(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src "+docsStyleHash+"; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(docsPage)
	return err
}

// docsPage is the rendered document; the document is fixed at build time,
// so it is rendered once.
var docsPage = func() []byte {
	d, err := parseDocs(openAPIDoc)
	if err != nil {
		panic("openapi.json: " + err.Error())
	}
	var b bytes.Buffer
	if err := docsTemplate.Execute(&b, d); err != nil {
		panic("openapi.json: " + err.Error())
	}
	return b.Bytes()
}()

type docs struct {
	Title, Version, Description string
	Style                       template.CSS
	Operations                  []docOperation
	Schemas                     []docSchema
}

type docOperation struct {
	Method, Path, Summary, Description string
	Public                             bool   // no bearer token
	Request                            string // the body's schema, when named
	Responses                          []docResponse
}

type docResponse struct {
	Status, Description string
	Types               []string // media types
	Schemas             []string // named schemas of the bodies
}

type docSchema struct {
	Name, JSON string
}

// parseDocs reads what the page shows from the document.
func parseDocs(b []byte) (*docs, error) {
	var raw struct {
		Info struct {
			Title, Version, Description string
		}
		Paths      map[string]map[string]json.RawMessage
		Components struct {
			Schemas map[string]json.RawMessage
		}
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, err
	}
	d := &docs{Title: raw.Info.Title, Version: raw.Info.Version, Description: raw.Info.Description, Style: docsStyle}
	paths := make([]string, 0, len(raw.Paths))
	for p := range raw.Paths {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		for _, m := range []string{"get", "head", "post", "put", "patch", "delete"} {
			rawOp, ok := raw.Paths[p][m]
			if !ok {
				continue
			}
			var op struct {
				Summary, Description string
				Security             *[]json.RawMessage
				RequestBody          *struct {
					Content map[string]struct{ Schema json.RawMessage }
				}
				Responses map[string]struct {
					Description string
					Content     map[string]struct{ Schema json.RawMessage }
				}
			}
			if err := json.Unmarshal(rawOp, &op); err != nil {
				return nil, err
			}
			o := docOperation{Method: strings.ToUpper(m), Path: p, Summary: op.Summary, Description: op.Description,
				Public: op.Security != nil && len(*op.Security) == 0}
			if op.RequestBody != nil {
				for _, c := range op.RequestBody.Content {
					o.Request = strings.Join(schemaNames(c.Schema), " or ")
				}
			}
			for status, resp := range op.Responses {
				dr := docResponse{Status: status, Description: resp.Description}
				for mt, c := range resp.Content {
					dr.Types = append(dr.Types, mt)
					for _, n := range schemaNames(c.Schema) {
						if !slices.Contains(dr.Schemas, n) {
							dr.Schemas = append(dr.Schemas, n)
						}
					}
				}
				sort.Strings(dr.Types)
				o.Responses = append(o.Responses, dr)
			}
			sort.Slice(o.Responses, func(i, j int) bool { return o.Responses[i].Status < o.Responses[j].Status })
			d.Operations = append(d.Operations, o)
		}
	}
	for name, s := range raw.Components.Schemas {
		var out bytes.Buffer
		if err := json.Indent(&out, s, "", "  "); err != nil {
			return nil, err
		}
		d.Schemas = append(d.Schemas, docSchema{Name: name, JSON: out.String()})
	}
	sort.Slice(d.Schemas, func(i, j int) bool { return d.Schemas[i].Name < d.Schemas[j].Name })
	return d, nil
}

// schemaNames returns the component names a schema refers to, itself or
// through oneOf.
func schemaNames(s json.RawMessage) []string {
	var v struct {
		Ref   string `json:"$ref"`
		OneOf []struct {
			Ref string `json:"$ref"`
		} `json:"oneOf"`
	}
	if len(s) == 0 || json.Unmarshal(s, &v) != nil {
		return nil
	}
	refs := []string{v.Ref}
	for _, o := range v.OneOf {
		refs = append(refs, o.Ref)
	}
	var out []string
	for _, r := range refs {
		if n, ok := strings.CutPrefix(r, "#/components/schemas/"); ok {
			out = append(out, n)
		}
	}
	return out
}

// docsStyle is the page's only style; the CSP allows exactly it by hash.
const docsStyle = `body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}` +
	`h2{margin-top:2.5rem}section{border-top:1px solid #ddd;padding:.6rem 0}code,pre{font:13px ui-monospace,monospace}` +
	`.m{display:inline-block;min-width:3.6rem;font-weight:600}table{border-collapse:collapse}` +
	`td{padding:.15rem .8rem .15rem 0;vertical-align:top}small{color:#666}pre{background:#f6f6f6;padding:.6rem;overflow:auto}`

var docsStyleHash = func() string {
	h := sha256.Sum256([]byte(docsStyle))
	return "'sha256-" + base64.StdEncoding.EncodeToString(h[:]) + "'"
}()

var docsTemplate = template.Must(template.New("docs").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{{.Title}} API</title><style>{{.Style}}</style></head>
<body><h1>{{.Title}} API <small>version {{.Version}}</small></h1>
<p>{{.Description}}</p>
<p>The machine-readable document: <a href="/api/v1/openapi.json">/api/v1/openapi.json</a>. API routes take <code>Authorization: Bearer sst_…</code>.</p>
<h2>Operations</h2>
{{range .Operations}}<section id="{{.Method}}-{{.Path}}"><div><span class="m">{{.Method}}</span> <code>{{.Path}}</code>{{if .Public}} <small>(no token)</small>{{end}}</div>
<div>{{.Summary}}</div>{{with .Description}}<p><small>{{.}}</small></p>{{end}}
{{with .Request}}<div>Body: <a href="#schema-{{.}}">{{.}}</a></div>{{end}}
<table>{{range .Responses}}<tr><td><code>{{.Status}}</code></td><td>{{.Description}}{{if .Types}} <small>{{range $i, $t := .Types}}{{if $i}}, {{end}}{{$t}}{{end}}</small>{{end}}{{range .Schemas}} <a href="#schema-{{.}}">{{.}}</a>{{end}}</td></tr>
{{end}}</table></section>
{{end}}
<h2>Schemas</h2>
{{range .Schemas}}<section id="schema-{{.Name}}"><h3>{{.Name}}</h3><pre>{{.JSON}}</pre></section>
{{end}}</body></html>
`))
