package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// The API document is held to what the API sends: every response any test
// of this package gets from the test server (whatever client sent the
// request), the console's pages under /ui/ aside, is checked against
// openapi.json, and a response the document does not describe fails the
// test that caused it.

var apiDoc struct {
	once   sync.Once
	doc    *openapi3.T
	router routers.Router
	err    error
}

// loadAPIDoc parses and validates openapi.json, the file the server embeds.
func loadAPIDoc() (*openapi3.T, routers.Router, error) {
	apiDoc.once.Do(func() {
		b, err := os.ReadFile("openapi.json")
		if err != nil {
			apiDoc.err = err
			return
		}
		ctx := context.Background()
		doc, err := openapi3.NewLoader().LoadFromData(b)
		if err != nil {
			apiDoc.err = fmt.Errorf("openapi.json: %w", err)
			return
		}
		if err := doc.Validate(ctx); err != nil {
			apiDoc.err = fmt.Errorf("openapi.json is not a valid OpenAPI document: %w", err)
			return
		}
		r, err := gorillamux.NewRouter(doc)
		if err != nil {
			apiDoc.err = fmt.Errorf("openapi.json: %w", err)
			return
		}
		apiDoc.doc, apiDoc.router = doc, r
	})
	return apiDoc.doc, apiDoc.router, apiDoc.err
}

// checkedAPI wraps the server under test: each response outside /ui/ is copied
// as it is written and, once the handler returns, checked against the
// document; a mismatch is reported on t with the route, the status and the
// reason. The client sees the response unchanged and unbuffered.
func checkedAPI(t testing.TB, h http.Handler) http.Handler {
	if _, _, err := loadAPIDoc(); err != nil {
		t.Fatal(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/ui/") { // the console's pages are not API
			h.ServeHTTP(w, r)
			return
		}
		// Only the API's bodies are read ahead (all small JSON): an upload's
		// body is left to the handler, which never reads it.
		api := strings.HasPrefix(r.URL.Path, "/api/v1/")
		var reqBody []byte
		if api && r.Body != nil {
			var err error
			if reqBody, err = io.ReadAll(r.Body); err != nil {
				t.Errorf("openapi check: reading the request body: %v", err)
			}
			r.Body = io.NopCloser(bytes.NewReader(reqBody))
		}
		rec := &teeWriter{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if rec.err != nil || r.Context().Err() != nil {
			return // the client went away: the response was cut off
		}
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		if route, err := checkAPIExchange(r, api, reqBody, status, w.Header(), rec.body.Bytes()); err != nil {
			t.Errorf("openapi.json disagrees with the API: %s %s answered %d: %v", r.Method, route, status, err)
		}
	})
}

// checkAPIExchange checks one response (and, when the API under /api/v1
// accepted it, its request) against the document, and returns the route that answered:
// its documented template, or the path when no route is documented.
func checkAPIExchange(r *http.Request, api bool, reqBody []byte, status int, hdr http.Header, body []byte) (string, error) {
	doc, router, err := loadAPIDoc()
	if err != nil {
		return r.URL.Path, err
	}
	ctx := context.Background()
	req := r.Clone(ctx)
	req.Body = io.NopCloser(bytes.NewReader(reqBody))
	req.URL.Scheme, req.URL.Host = "http", r.Host
	route, params, err := router.FindRoute(req)
	if err != nil {
		// No documented route: the router's own 404 or 405, a problem.
		if !errors.Is(err, routers.ErrPathNotFound) && !errors.Is(err, routers.ErrMethodNotAllowed) {
			return r.URL.Path, err
		}
		return r.URL.Path, checkProblem(doc, status, hdr, body)
	}
	// Errors name the field and the rule, never the value: a body may hold
	// a short URL or a token.
	opts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true,
		AuthenticationFunc:      openapi3filter.NoopAuthenticationFunc,
		SchemaValidationOptions: []openapi3.SchemaValidationOption{schemaReasonOnly}}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	if api && status >= 200 && status < 300 {
		// What the API accepts, the document must accept too.
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			return route.Path, fmt.Errorf("the API accepted a request the document refuses: %w", err)
		}
	}
	resp := route.Operation.Responses.Status(status)
	if resp == nil {
		return route.Path, errors.New("status not documented")
	}
	if len(body) > 0 && len(resp.Value.Content) == 0 {
		return route.Path, fmt.Errorf("the document gives no content for status %d, the API sent %q", status, hdr.Get("Content-Type"))
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: hdr,
		Options: opts}
	out.SetBodyBytes(body)
	return route.Path, openapi3filter.ValidateResponse(ctx, out)
}

// schemaReasonOnly makes schema errors say where and why, without the
// schema and the value.
var schemaReasonOnly = openapi3.SetSchemaErrorMessageCustomizer(func(err *openapi3.SchemaError) string {
	return err.Reason
})

// checkProblem checks a response that no documented route answered: it
// must be a problem document.
func checkProblem(doc *openapi3.T, status int, hdr http.Header, body []byte) error {
	if ct := hdr.Get("Content-Type"); ct != "application/problem+json" {
		return fmt.Errorf("Content-Type %q; want application/problem+json", ct)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("problem body: %w", err)
	}
	return doc.Components.Schemas["Problem"].Value.VisitJSON(v, openapi3.EnableJSONSchema2020(), schemaReasonOnly)
}

func init() {
	openapi3filter.RegisterBodyDecoder("application/x-ndjson", decodeJSONLines)
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
}

// decodeJSONLines checks each line of a JSON Lines body against AuditEvent,
// the one kind of object the API sends as JSON Lines (the audit export),
// and returns the text for the document's string schema.
func decodeJSONLines(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	doc, _, err := loadAPIDoc()
	if err != nil {
		return nil, err
	}
	event := doc.Components.Schemas["AuditEvent"].Value
	if len(b) > 0 && b[len(b)-1] != '\n' {
		return nil, errors.New("JSON Lines body does not end in a newline")
	}
	for i, line := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
		if len(b) == 0 {
			break
		}
		var v any
		if err := json.Unmarshal(line, &v); err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		if err := event.VisitJSON(v, openapi3.EnableJSONSchema2020(), schemaReasonOnly); err != nil {
			return nil, fmt.Errorf("line %d is not an AuditEvent: %w", i+1, err)
		}
	}
	return string(b), nil
}

// teeWriter passes a response through and keeps a copy of its status and
// body. It unwraps, so http.ResponseController reaches the connection.
type teeWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
	err    error // the first failed write: the response was cut off
}

func (w *teeWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *teeWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.body.Write(b)
	n, err := w.ResponseWriter.Write(b)
	if err != nil && w.err == nil {
		w.err = err
	}
	return n, err
}

func (w *teeWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *teeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// The check refuses responses that drift from the document: a renamed,
// dropped or added field, an undocumented status, another content type.
func TestAPICheckCatchesDrift(t *testing.T) {
	link := `{"id":"lnk_a","kind":"download","state":"live","bucket":"b","key":"k","created_at":"2026-01-02T03:04:05Z",` +
		`"created_by":"ann","expires_at":"2026-01-03T03:04:05Z","uses":0,"presign_ttl":60`
	js := http.Header{"Content-Type": {"application/json"}}
	for _, c := range []struct {
		name, path string
		status     int
		hdr        http.Header
		body       string
		ok         bool
	}{
		{"as sent", "/api/v1/killswitch", 200, js, `{"on":true,"reason":"r","since":"2026-01-02T03:04:05Z","by":"ann"}`, true},
		{"renamed field", "/api/v1/killswitch", 200, js, `{"on":true,"set_by":"ann"}`, false},
		{"dropped field", "/api/v1/killswitch", 200, js, `{"reason":"r"}`, false},
		{"wrong type", "/api/v1/killswitch", 200, js, `{"on":"yes"}`, false},
		{"undocumented status", "/api/v1/killswitch", 418, js, `{"on":true}`, false},
		{"other content type", "/api/v1/killswitch", 200, http.Header{"Content-Type": {"text/plain"}}, `{"on":true}`, false},
		{"link", "/api/v1/links/lnk_a", 200, js, link + `}`, true},
		{"link with its URL", "/api/v1/links/lnk_a", 200, js, link + `,"url":"http://share.example/s/x"}`, false},
		{"link without uses", "/api/v1/links/lnk_a", 200, js, strings.Replace(link, `"uses":0,`, "", 1) + `}`, false},
		{"problem", "/api/v1/links/lnk_a", 404, http.Header{"Content-Type": {"application/problem+json"}},
			`{"type":"urn:sharesvc:problem:link-not-found","title":"No such link","status":404,"request_id":"0123456789abcdef01234567"}`, true},
		{"problem of another status", "/api/v1/links/lnk_a", 404, http.Header{"Content-Type": {"application/problem+json"}},
			`{"type":"urn:sharesvc:problem:forbidden","title":"No","status":403,"request_id":"0123456789abcdef01234567"}`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := http.NewRequest(http.MethodGet, "http://share.example"+c.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = checkAPIExchange(r, true, nil, c.status, c.hdr, []byte(c.body))
			if (err == nil) != c.ok {
				t.Errorf("checkAPIExchange(%s %d %s) = %v; want ok %v", c.path, c.status, c.body, err, c.ok)
			}
		})
	}
}
