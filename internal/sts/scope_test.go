package sts

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestScopePolicy(t *testing.T) {
	for _, tc := range []struct {
		scope Scope
		want  string
	}{
		{Scope{Bucket: "share-bucket-01", Prefix: "team/a/", Actions: Download},
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::share-bucket-01/team/a/*"]}]}`},
		{Scope{Bucket: "share-bucket-01", Actions: Upload},
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:PutObject"],"Resource":["arn:aws:s3:::share-bucket-01/*"]}]}`},
		{Scope{Bucket: "my.bucket", Prefix: `a "q" & <b>/é\`, Actions: Download | Upload},
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":["arn:aws:s3:::my.bucket/a \"q\" & <b>/é\\*"]}]}`},
	} {
		got, err := tc.scope.Policy()
		if err != nil || got != tc.want {
			t.Errorf("%+v.Policy() = %s, %v; want %s", tc.scope, got, err, tc.want)
			continue
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(got), &doc); err != nil {
			t.Errorf("%+v.Policy() is not JSON: %v", tc.scope, err)
		}
	}
}

func TestScopePolicyRefuses(t *testing.T) {
	long := strings.Repeat("\x01", 400) // 400 bytes, 2400 once escaped in JSON
	for _, sc := range []Scope{
		{Bucket: "", Prefix: "a/", Actions: Download},
		{Bucket: "Bad_Bucket", Actions: Download},
		{Bucket: "share-bucket-01", Prefix: "a*/", Actions: Download},
		{Bucket: "share-bucket-01", Prefix: "a?", Actions: Download},
		{Bucket: "share-bucket-01", Prefix: "${aws:username}/", Actions: Download},
		{Bucket: "share-bucket-01", Prefix: "bad\xff", Actions: Download},
		{Bucket: "share-bucket-01", Prefix: strings.Repeat("k", 1025), Actions: Download},
		{Bucket: "share-bucket-01", Prefix: long, Actions: Download},
		{Bucket: "share-bucket-01", Prefix: "a/"},
		{Bucket: "share-bucket-01", Prefix: "a/", Actions: 4},
	} {
		if p, err := sc.Policy(); !errors.Is(err, ErrInvalidScope) {
			t.Errorf("Policy(%+.40v) = %q, %v; want ErrInvalidScope", sc, p, err)
		}
	}
	// The longest prefix allowed still fits AWS's limit.
	sc := Scope{Bucket: strings.Repeat("b", 63), Prefix: strings.Repeat("é", 512), Actions: Download | Upload}
	if p, err := sc.Policy(); err != nil || len(p) > MaxSessionPolicy {
		t.Errorf("1024-byte prefix: policy of %d bytes, %v", len(p), err)
	}
}

func TestScopeAllows(t *testing.T) {
	sc := Scope{Bucket: "share-bucket-01", Prefix: "team/", Actions: Download}
	for _, tc := range []struct {
		r    Request
		want bool
	}{
		{Request{Method: http.MethodGet, Bucket: "share-bucket-01", Key: "team/x"}, true},
		{Request{Method: http.MethodHead, Bucket: "share-bucket-01", Key: "team/x"}, true},
		{Request{Method: http.MethodPut, Bucket: "share-bucket-01", Key: "team/x"}, false},
		{Request{Method: http.MethodGet, Bucket: "share-bucket-01", Key: "teamx"}, false},
		{Request{Method: http.MethodGet, Bucket: "share-bucket-02", Key: "team/x"}, false},
		{Request{Method: http.MethodDelete, Bucket: "share-bucket-01", Key: "team/x"}, false},
	} {
		if got := sc.Allows(tc.r); got != tc.want {
			t.Errorf("Allows(%s %s/%s) = %v; want %v", tc.r.Method, tc.r.Bucket, tc.r.Key, got, tc.want)
		}
	}
}

func TestScopedSessionName(t *testing.T) {
	for _, tc := range []struct{ base, label, want string }{
		{"sharesvc-host-1", "grant-42", "sharesvc-host-1-grant-42"},
		{"sharesvc-" + strings.Repeat("h", 60), "g7", "sharesvc-" + strings.Repeat("h", 52) + "-g7"},
		{"sharesvc", "grant/with spaces", "sharesvc-grant-with-spaces"},
		{"sharesvc", strings.Repeat("L", 50), "sharesvc-" + strings.Repeat("L", 40)},
	} {
		got := ScopedSessionName(tc.base, tc.label)
		if got != tc.want || len(got) > 64 {
			t.Errorf("ScopedSessionName(%q, %q) = %q; want %q", tc.base, tc.label, got, tc.want)
		}
	}
}
