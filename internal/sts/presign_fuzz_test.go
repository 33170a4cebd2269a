package sts

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzPresignKey: for any key the presigner accepts, the signed URL's path
// decodes to exactly that key (nothing added, dropped or re-encoded), its
// host is the configured endpoint's, and the URL matches the SDK's byte for
// byte.
func FuzzPresignKey(f *testing.F) {
	for _, k := range trickyKeys {
		f.Add(k)
	}
	tg := target{"http://127.0.0.1:18333", "us-east-1", true}
	p := mustPresigner(f, tg)
	f.Fuzz(func(t *testing.T, key string) {
		r := Request{Method: http.MethodGet, Bucket: "share-bucket-01", Key: key, Expires: time.Minute, Now: testNow}
		s, err := p.Presign(sessionCreds, r)
		if err != nil {
			if key != "" && len(key) <= 1024 && utf8.ValidString(key) {
				t.Fatalf("valid key %q refused: %v", key, err)
			}
			return
		}
		u, err := url.Parse(s)
		if err != nil {
			t.Fatalf("%q: unparsable URL: %v", key, err)
		}
		if u.Host != "127.0.0.1:18333" || u.RawQuery == "" || u.Fragment != "" {
			t.Fatalf("%q: URL %q left the endpoint or lost its query", key, s)
		}
		dec, err := url.PathUnescape(u.EscapedPath())
		if err != nil {
			t.Fatalf("%q: %v", key, err)
		}
		if got, ok := strings.CutPrefix(dec, "/share-bucket-01/"); !ok || got != key {
			t.Fatalf("key %q: signed path decodes to %q", key, dec)
		}
		want, err := sdkPresign(tg, sessionCreds, r)
		if err != nil {
			t.Fatalf("SDK: %v", err)
		}
		if s != want {
			t.Fatalf("key %q: ours and the SDK's differ\n ours: %s\n sdk:  %s", key, s, want)
		}
	})
}
