package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeJSON: whatever the body, decodeJSON never panics, and what it
// accepts is one valid-UTF-8 JSON object whose keys are all known, each
// once, in their exact case.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"key":"a.txt"}`, `{"key":"a","expires_in":60,"max_uses":5,"presign_ttl":30}`, ``, `null`, `[]`,
		`{"key":"a"}{"key":"b"}`, `{"key":"a","key":"b"}`, `{"Key":"a"}`, `{"code":"x"}`, `{"expires_in":1e309}`,
		"{\"key\":\"\xff\"}", `{"note":{"a":[1,2,{"b":null}]}}`, `{"key":"a"} `, `{"key":"a"} x`,
		`{"expires_at":"2030-01-01T00:00:00Z"}`, `{"recipients":["a@x.org"]}`,
	} {
		f.Add([]byte(s))
	}
	known := jsonFields(&createLinkRequest{})
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/links", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		var req createLinkRequest
		if err := decodeJSON(httptest.NewRecorder(), r, &req, false); err != nil {
			return
		}
		if !utf8.Valid(body) {
			t.Fatalf("accepted invalid UTF-8 %q", body)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("accepted %q, which is not one JSON object: %v", body, err)
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.Token()
		seen := map[string]bool{}
		for dec.More() {
			k, _ := dec.Token()
			key := k.(string)
			if !known[key] || seen[key] {
				t.Fatalf("accepted %q with unknown or repeated key %q", body, key)
			}
			seen[key] = true
			var skip json.RawMessage
			dec.Decode(&skip)
		}
	})
}
