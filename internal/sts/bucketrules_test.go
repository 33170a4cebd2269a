package sts

import (
	"testing"

	"github.com/sharesvc/sharesvc/internal/links"
)

// The presigner's own bucket check and the link rules agree: a link the
// rules accept can always be signed, and one the presigner would refuse is
// never created (they once drifted, and such links answered 500 on open).
func TestBucketRulesAgreeWithLinks(t *testing.T) {
	for _, b := range []string{
		"files", "my.files", "a-b-c", "abc", "xn--abc", "foo-s3alias", "foo--ol-s3", "a.mrap", "b--x-s3",
		"c--table-s3", "sthree-x", "amzn-s3-demo-x", "192.168.1.1", "1.2.3", "ab", "-abc", "abc-", "a..b",
		"Abc", "a_b", "a" + string(make([]byte, 63)), "012", "0.0.0.0.0",
	} {
		sErr, lErr := validBucket(b), links.ValidBucket(b)
		if (sErr == nil) != (lErr == nil) {
			t.Errorf("bucket %q: presigner says %v, link rules say %v", b, sErr, lErr)
		}
	}
}
