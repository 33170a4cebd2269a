package server

import (
	"context"
	"time"

	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/sts"
)

// LinkScope is what S3 lets the session that signs l's URLs do: l's grant's
// bucket and prefix, for l's kind. ok is false for a link made by an admin
// or before grants, which the role's own session signs.
func LinkScope(l *links.Link) (sc sts.Scope, ok bool) {
	if l.GrantID == "" {
		return sts.Scope{}, false
	}
	act := sts.Download
	if l.Kind == links.KindUpload {
		act = sts.Upload
	}
	return sts.Scope{Bucket: l.Bucket, Prefix: l.GrantPrefix, Actions: act}, true
}

// signerGrant asks for a URL lifetime of want to sign l's URL: from the
// session of l's grant, whose policy S3 enforces, or the role's own.
func (s *Server) signerGrant(ctx context.Context, l *links.Link, want time.Duration) (sts.Grant, error) {
	if sc, ok := LinkScope(l); ok && s.scoped != nil {
		return s.scoped.Grant(ctx, sc, l.GrantID, want)
	}
	return s.signer.Grant(ctx, want)
}

// presign signs r with g, through the scoped signer when g is a grant's
// (which refuses a request outside the grant before S3 would).
func (s *Server) presign(g sts.Grant, r sts.Request) (string, error) {
	if g.Scoped() {
		return s.scoped.Presign(g, r)
	}
	return s.signer.Presign(g, r)
}
