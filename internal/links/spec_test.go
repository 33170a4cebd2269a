package links

import (
	"errors"
	"testing"
	"time"
)

func TestSpecRules(t *testing.T) {
	lim := Limits{DefaultBucket: "files", DefaultLifetime: time.Hour, MaxLifetime: 24 * time.Hour,
		DefaultPresignTTL: time.Minute, MaxPresignTTL: 5 * time.Minute, MaxUploadBytes: 1 << 20}
	now := time.Unix(1_700_000_000, 0).UTC()
	for _, tc := range []struct {
		name string
		sp   Spec
		ok   bool
	}{
		{"plain", Spec{Key: "a/b.pdf"}, true},
		{"IDN bucket refused", Spec{Bucket: "xn--abc", Key: "k"}, false},
		{"access point alias refused", Spec{Bucket: "foo-s3alias", Key: "k"}, false},
		{"IP bucket refused", Spec{Bucket: "192.168.1.1", Key: "k"}, false},
		{"dotted bucket fine", Spec{Bucket: "my.files", Key: "k"}, true},
		{"dot-dot key", Spec{Key: "a/../b"}, false},
		{"bidi key", Spec{Key: "invoice\u202efdp.exe"}, false},
		{"upload prefix", Spec{Kind: KindUpload, KeyPrefix: "inbox/"}, true},
		{"upload prefix ..", Spec{Kind: KindUpload, KeyPrefix: ".."}, false},
		{"upload prefix inbox/..", Spec{Kind: KindUpload, KeyPrefix: "inbox/.."}, false},
		{"upload prefix inbox/../", Spec{Kind: KindUpload, KeyPrefix: "inbox/../"}, false},
		{"upload prefix ./x", Spec{Kind: KindUpload, KeyPrefix: "./x"}, false},
		{"bidi filename", Spec{Key: "k", Filename: "invoice\u202efdp.exe"}, false},
		{"isolate in note", Spec{Key: "k", Note: "hi \u2067there"}, false},
		{"C1 control in note", Spec{Key: "k", Note: "hi \u0085"}, false},
		{"line break in note", Spec{Key: "k", Note: "line one\nline two"}, true},
		{"line break in filename", Spec{Key: "k", Filename: "a\nb"}, false},
		{"unicode filename", Spec{Key: "k", Filename: "Über café.pdf"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.sp.Link(lim, "alice", now)
			if tc.ok && err != nil {
				t.Fatalf("Link(%+v) = %v; want nil", tc.sp, err)
			}
			if !tc.ok && !errors.Is(err, ErrInvalid) {
				t.Fatalf("Link(%+v) = %v; want ErrInvalid", tc.sp, err)
			}
		})
	}
}
