package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"
)

// maxJSONBody bounds admin request bodies.
const maxJSONBody = 64 << 10

// maxJSONDepth bounds nesting; no admin body needs more than a few levels.
const maxJSONDepth = 8

// decodeJSON reads one strict JSON object into v (a pointer to a struct with
// json tags). It refuses, creating nothing: a content type other than
// application/json (or application/merge-patch+json, for PATCH), bodies
// over 64 KiB, invalid UTF-8, anything but a single object, unknown,
// duplicate or case-variant keys, nesting deeper than 8, and values of the
// wrong type. An empty body is allowed only when allowEmpty is set.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any, allowEmpty bool) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJSONBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("%w: limit is %d bytes", errTooLarge, maxJSONBody)
		}
		return fmt.Errorf("%w: %v", errBadJSON, err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if allowEmpty {
			return nil
		}
		return fmt.Errorf("%w: empty body", errBadJSON)
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" && (mt != "application/merge-patch+json" || r.Method != http.MethodPatch) {
			return fmt.Errorf("%w: got %q", errMedia, ct)
		}
	} else {
		return fmt.Errorf("%w: Content-Type is missing", errMedia)
	}
	if !utf8.Valid(body) {
		return fmt.Errorf("%w: body is not valid UTF-8", errBadJSON)
	}
	if err := checkKeys(body, jsonFields(v)); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return fmt.Errorf("%w: field %q must be %s", errBadJSON, ute.Field, ute.Type)
		}
		return fmt.Errorf("%w: %v", errBadJSON, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: trailing data after the object", errBadJSON)
	}
	return nil
}

// checkKeys walks the token stream: the top level must be an object whose
// keys are all known (exact case) and unique, and nesting stays shallow.
func checkKeys(body []byte, known map[string]bool) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%w: %v", errBadJSON, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("%w: body must be a JSON object", errBadJSON)
	}
	type frame struct {
		obj  bool
		seen map[string]bool
		key  bool // next token in an object is a key
	}
	stack := []frame{{obj: true, seen: map[string]bool{}, key: true}}
	for len(stack) > 0 {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%w: %v", errBadJSON, err)
		}
		top := &stack[len(stack)-1]
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			if len(stack) > 0 && stack[len(stack)-1].obj {
				stack[len(stack)-1].key = true
			}
			continue
		}
		if top.obj && top.key {
			k := tok.(string)
			if top.seen[k] {
				return fmt.Errorf("%w: duplicate key %q", errBadJSON, k)
			}
			top.seen[k] = true
			if len(stack) == 1 && !known[k] {
				return fmt.Errorf("%w: unknown field %q", errBadJSON, k)
			}
			top.key = false
			continue
		}
		if d, ok := tok.(json.Delim); ok {
			if len(stack) >= maxJSONDepth {
				return fmt.Errorf("%w: nested deeper than %d", errBadJSON, maxJSONDepth)
			}
			stack = append(stack, frame{obj: d == '{', seen: map[string]bool{}, key: d == '{'})
			continue
		}
		if top.obj {
			top.key = true
		}
	}
	return nil
}

// jsonFields returns the exact JSON names of v's struct fields.
func jsonFields(v any) map[string]bool {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	m := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			m[name] = true
		}
	}
	return m
}

// writeJSON sends v with status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// mimeAttachment formats a Content-Disposition for a download name,
// RFC 2231-encoding names that are not plain ASCII.
func mimeAttachment(name string) string {
	return mime.FormatMediaType("attachment", map[string]string{"filename": name})
}
