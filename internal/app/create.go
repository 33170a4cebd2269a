package app

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/grants"
	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/mail"
	"github.com/sharesvc/sharesvc/internal/people"
	"github.com/sharesvc/sharesvc/internal/sts"
)

// CreateLink asks for a link, or, with Recipients, for a share sent by
// email: one link per recipient, whose codes only the recipients get.
type CreateLink struct {
	links.Spec
	Recipients []string
	Confirm    *bool  // browsers get a confirmation page; default true with recipients
	Direct     *bool  // with Confirm: non-browsers are redirected at once; default false with recipients
	Notify     string // recipients only: address told about first opens
	NotifyMode string // "first" (default) or "digest"
	// NotifyArrivals: upload links only; Notify is mailed about each
	// upload that arrives.
	NotifyArrivals bool
	// VerifyRecipient: each recipient proves, with a code mailed to them,
	// that they hold the address before the first mint. Implies confirm,
	// without direct. Default false.
	VerifyRecipient bool
}

// Created is what CreateLink made: one link and its code, or a share.
type Created struct {
	Link  *links.Link
	Code  string // the secret of Link; shown once, to its creator
	Share *Share
}

// Share is a share sent by email: its links, one per recipient, each with
// the message queued to them.
type Share struct {
	ID        string
	CreatedBy string
	CreatedAt time.Time
	Members   []ShareMember
}

// ShareMember is one recipient's link of a share and its message.
type ShareMember struct {
	Link     *links.Link
	Delivery *mail.Delivery
}

// ErrS3 means S3 could not be asked; the object's state is unknown.
var ErrS3 = errors.New("object storage unreachable")

// CreateLink checks req against the server's limits and, for anyone but
// an admin, against the actor's grants — before any call to S3, so that
// nothing outside one's grants can be probed — then checks the object in
// S3 with the grant's own session and stores the link (or the share) with
// its audit row. Errors: links.ErrInvalid naming the field,
// grants.ErrNoGrant saying what is missing, links.ErrSuspended while the
// kill switch is on, mail.ErrQuota, sts.ErrUnavailable, ErrS3,
// auth.ErrForbidden for an auditor.
func (a *App) CreateLink(ctx context.Context, actor Actor, req *CreateLink) (*Created, error) {
	if err := allow(actor, "creating a link", auth.RoleAdmin, auth.RoleSharer); err != nil {
		return nil, err
	}
	now := a.now().UTC().Truncate(time.Millisecond)
	l, err := req.Spec.Link(a.cfg.Links, actor.Name, now)
	if err != nil {
		return nil, err
	}
	if err := a.shareSettings(req, l); err != nil {
		return nil, err
	}
	var g *grants.Grant
	if !actor.IsAdmin() {
		if g, l, err = a.underGrant(ctx, actor, req, l, now); err != nil {
			return nil, err
		}
	}
	// While the kill switch is on nothing is signed, not even the check
	// below: it would assume the role again during an incident.
	if on, err := a.links.KillSwitchOn(ctx); err != nil {
		return nil, err
	} else if on {
		return nil, fmt.Errorf("%w: links cannot be created until an admin turns the kill switch off", links.ErrSuspended)
	}
	if req.Recipients != nil {
		if err := a.checkMailQuota(ctx, actor, len(req.Recipients)); err != nil {
			return nil, err
		}
	}
	if err := a.checkObject(ctx, l); err != nil {
		return nil, err
	}
	if req.Recipients != nil {
		sh, err := a.insertShare(ctx, actor, req, l)
		if err != nil {
			return nil, err
		}
		return &Created{Share: sh}, nil
	}
	code, hash := links.NewCode()
	detail := map[string]any{
		"kind": l.Kind, "bucket": l.Bucket, "key": l.Key, "key_is_prefix": l.KeyIsPrefix, "expires_at": l.ExpiresAt,
		"max_uses": l.MaxUses, "presign_ttl": int64(l.PresignTTL / time.Second), "max_bytes": l.MaxBytes,
	}
	if g != nil {
		detail["grant_id"] = g.ID
	}
	b, _ := json.Marshal(detail)
	ev := a.event(actor, audit.ActionLinkCreate, string(b))
	ev.LinkID = l.ID
	if _, err := a.audit.Append(ctx, ev, func(ctx context.Context, tx *sql.Tx, _ *audit.Event) error {
		return links.Insert(ctx, tx, l, hash)
	}); err != nil {
		return nil, err
	}
	return &Created{Link: l, Code: code}, nil
}

// matchGrants returns the actor's grants in force (their own, their
// role's and their groups') that allow action on bucket/key, oldest first.
// Errors: grants.ErrNoGrant saying what is missing.
func (a *App) matchGrants(ctx context.Context, actor Actor, action grants.Action, bucket, key string) ([]*grants.Grant, error) {
	all, err := a.grants.For(ctx, actor.Name, actor.Role, actor.Groups)
	if err != nil {
		return nil, err
	}
	return grants.Match(all, grants.Ask{Person: actor.Name, Role: actor.Role, Groups: actor.Groups, Action: action, Bucket: bucket, Key: key})
}

// underGrant finds the first of the actor's grants that allows the link
// and whose ceilings it keeps, and returns the link as made under it.
// Errors: grants.ErrNoGrant.
func (a *App) underGrant(ctx context.Context, actor Actor, req *CreateLink, l *links.Link, now time.Time) (*grants.Grant, *links.Link, error) {
	action := grants.ActionDownload
	switch {
	case req.Recipients != nil:
		action = grants.ActionEmail
	case l.Kind == links.KindUpload:
		action = grants.ActionUpload
	}
	cands, err := a.matchGrants(ctx, actor, action, l.Bucket, l.Key)
	if err != nil {
		return nil, nil, err
	}
	var first error
	for _, g := range cands {
		gl, err := req.Spec.Link(g.Limits(a.cfg.Links), actor.Name, now)
		if err == nil {
			err = a.shareSettings(req, gl)
		}
		if err == nil {
			for _, rcpt := range req.Recipients {
				if !g.DomainAllowed(rcpt) {
					err = fmt.Errorf("recipient %s is outside the mail domains the grant allows (%v)", rcpt, g.RecipientDomains)
					break
				}
			}
		}
		if err == nil {
			gl.GrantID, gl.GrantPrefix = g.ID, g.PrefixFor(actor.Name)
			return g, gl, nil
		}
		if first == nil {
			first = fmt.Errorf("%w: grant %s: %w", grants.ErrNoGrant, g.ID, err)
		}
	}
	return nil, nil, first
}

// shareSettings applies the sharing-by-email fields of req to l:
// recipients (normalised in place), confirm, direct and notify. Errors:
// links.ErrInvalid naming the field (wrapping mail.ErrInvalidAddress for
// addresses).
func (a *App) shareSettings(req *CreateLink, l *links.Link) error {
	share := req.Recipients != nil
	l.Confirm, l.Direct = share, !share
	if req.Confirm != nil {
		l.Confirm = *req.Confirm
	}
	if req.Direct != nil {
		if !l.Confirm {
			return fmt.Errorf("%w: direct only applies with confirm", links.ErrInvalid)
		}
		l.Direct = *req.Direct
	}
	if req.VerifyRecipient {
		if !share {
			return fmt.Errorf("%w: verify_recipient needs recipients", links.ErrInvalid)
		}
		if !l.Confirm || (req.Direct != nil && *req.Direct) {
			return fmt.Errorf("%w: verify_recipient needs confirm, without direct", links.ErrInvalid)
		}
		l.VerifyRecipient, l.Direct = true, false
	}
	if l.Confirm && l.Kind != links.KindDownload {
		return fmt.Errorf("%w: confirm is for download links", links.ErrInvalid)
	}
	if req.NotifyArrivals {
		return a.arrivalNotice(l, req, share)
	}
	if !share {
		if req.Notify != "" || req.NotifyMode != "" {
			return fmt.Errorf("%w: notify and notify_mode need recipients", links.ErrInvalid)
		}
		return nil
	}
	if l.Kind != links.KindDownload {
		return fmt.Errorf("%w: recipients is for download links", links.ErrInvalid)
	}
	if a.mail == nil {
		return fmt.Errorf("%w: recipients: this server does not send mail (SHARESVC_SMTP_HOST is not set)", links.ErrInvalid)
	}
	rcpts, err := mail.NormalizeRecipients(req.Recipients, a.cfg.MaxRecipients)
	if err != nil {
		return fmt.Errorf("%w: recipients: %w", links.ErrInvalid, err)
	}
	req.Recipients = rcpts
	switch req.NotifyMode {
	case "":
		if req.Notify != "" {
			req.NotifyMode = links.NotifyFirst
		}
	case links.NotifyFirst, links.NotifyDigest:
		if req.Notify == "" {
			return fmt.Errorf("%w: notify_mode needs notify (the address to tell)", links.ErrInvalid)
		}
	default:
		return fmt.Errorf("%w: notify_mode %q must be first or digest", links.ErrInvalid, req.NotifyMode)
	}
	if req.Notify != "" {
		addr, err := mail.NormalizeAddress(req.Notify)
		if err != nil {
			return fmt.Errorf("%w: notify: %w", links.ErrInvalid, err)
		}
		l.Notify, l.NotifyMode = addr, req.NotifyMode
	}
	return nil
}

// DisplayName is what mail and the confirmation page call a link's object:
// the download name, else the key's last segment.
func DisplayName(l *links.Link) string {
	if l.Filename != "" {
		return l.Filename
	}
	return path.Base(l.Key)
}

// insertShare creates one link per recipient of req under a new share id,
// and queues each recipient's message, all in one audited transaction. The
// codes go only into the (sealed) queue: the caller never sees them.
func (a *App) insertShare(ctx context.Context, actor Actor, req *CreateLink, tmpl *links.Link) (*Share, error) {
	shareID := links.NewShareID()
	type member struct {
		l    *links.Link
		code string
		hash []byte
		d    *mail.Delivery
	}
	members := make([]*member, len(req.Recipients))
	summary := make([]map[string]string, len(req.Recipients))
	for i, rcpt := range req.Recipients {
		l := *tmpl
		l.ID, l.ShareID, l.Recipient = links.NewID(), shareID, rcpt
		code, hash := links.NewCode()
		members[i] = &member{l: &l, code: code, hash: hash}
		summary[i] = map[string]string{"link_id": l.ID, "recipient": rcpt}
	}
	detail := map[string]any{
		"share_id": shareID, "links": summary, "bucket": tmpl.Bucket, "key": tmpl.Key, "expires_at": tmpl.ExpiresAt,
		"max_uses": tmpl.MaxUses, "presign_ttl": int64(tmpl.PresignTTL / time.Second), "confirm": tmpl.Confirm,
		"notify": tmpl.Notify != "", "notify_mode": tmpl.NotifyMode,
	}
	if tmpl.VerifyRecipient {
		detail["verify_recipient"] = true
	}
	if tmpl.GrantID != "" {
		detail["grant_id"] = tmpl.GrantID
	}
	b, _ := json.Marshal(detail)
	ev := a.event(actor, audit.ActionShareCreate, string(b))
	if _, err := a.audit.Append(ctx, ev, func(ctx context.Context, tx *sql.Tx, _ *audit.Event) error {
		// The sharer's display name and address are read here, in the
		// transaction, so an admin's edit applies to the next share.
		fromName, replyTo, err := people.Contact(ctx, tx, actor.Name)
		if err != nil {
			return err
		}
		sharer := actor.Name
		if fromName != "" {
			sharer = fromName
		}
		for _, m := range members {
			if err := links.Insert(ctx, tx, m.l, m.hash); err != nil {
				return err
			}
			d, err := a.mail.QueueShare(ctx, tx, mail.ShareMessage{
				LinkID: m.l.ID, ShareID: shareID, To: m.l.Recipient, FromName: fromName, ReplyTo: replyTo,
				Data: mail.ShareData{Sharer: sharer, Filename: DisplayName(m.l), Note: m.l.Note, ExpiresAt: m.l.ExpiresAt},
			}, m.code)
			if err != nil {
				return err
			}
			m.d = d
		}
		return nil
	}); err != nil {
		return nil, err
	}
	a.mail.Kick()
	sh := &Share{ID: shareID, CreatedBy: actor.Name, CreatedAt: tmpl.CreatedAt}
	for _, m := range members {
		sh.Members = append(sh.Members, ShareMember{Link: m.l, Delivery: m.d})
	}
	return sh, nil
}

// checkObject asks S3, with a HEAD presigned by the session the link's
// URLs will be signed with, about the link's object: a download link's
// object must exist and be readable; an upload link's exact key must not
// exist, since uploads never replace an object. A download link keeps the
// size the HEAD answers, for its confirmation page. Errors: links.ErrInvalid
// (said which), sts.ErrUnavailable, ErrS3.
func (a *App) checkObject(ctx context.Context, l *links.Link) error {
	if l.KeyIsPrefix {
		return nil // every upload gets a new generated name
	}
	head := sts.Request{Method: http.MethodHead, Bucket: l.Bucket, Key: l.Key}
	var u string
	if l.GrantID != "" && a.scoped != nil {
		// The grant's own session: what it cannot reach, no URL of the
		// link could. An upload link's session may only PUT, so its check
		// asks with a session of the same grant that may also read.
		sc := sts.Scope{Bucket: l.Bucket, Prefix: l.GrantPrefix, Actions: sts.Download}
		if l.Kind == links.KindUpload {
			sc.Actions |= sts.Upload
		}
		g, err := a.scoped.Grant(ctx, sc, l.GrantID, 30*time.Second)
		if err != nil {
			return err
		}
		if u, err = a.scoped.Presign(g, head); err != nil {
			return fmt.Errorf("%w: %v", links.ErrInvalid, err)
		}
	} else {
		g, err := a.signer.Grant(ctx, 30*time.Second)
		if err != nil {
			return err
		}
		if u, err = a.signer.Presign(g, head); err != nil {
			return fmt.Errorf("%w: %v", links.ErrInvalid, err)
		}
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
	if err != nil {
		return err
	}
	resp, err := a.client.Do(hreq)
	if err != nil {
		// The URL is a secret; the error from the client quotes it.
		return fmt.Errorf("%w: HEAD %s/%s failed", ErrS3, l.Bucket, l.Key)
	}
	resp.Body.Close()
	upload := l.Kind == links.KindUpload
	switch {
	case resp.StatusCode == http.StatusOK && upload:
		return fmt.Errorf("%w: object %q already exists in bucket %q; an upload link never replaces an object (use key_prefix for generated names, or another key)", links.ErrInvalid, l.Key, l.Bucket)
	case resp.StatusCode == http.StatusOK:
		if resp.ContentLength >= 0 {
			n := resp.ContentLength
			l.ObjectBytes = &n
		}
		return nil
	case resp.StatusCode == http.StatusNotFound && upload:
		return nil
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%w: object %q does not exist in bucket %q", links.ErrInvalid, l.Key, l.Bucket)
	case resp.StatusCode == http.StatusForbidden && upload && l.GrantID != "":
		// A grant's session may not list the bucket, so AWS answers 403
		// for a missing key as well as a forbidden one. The PUT's signed
		// If-None-Match: * still keeps S3 from replacing an object.
		return nil
	case resp.StatusCode == http.StatusForbidden && upload:
		return fmt.Errorf("%w: whether object %q exists in bucket %q cannot be checked with the signing role (access denied)", links.ErrInvalid, l.Key, l.Bucket)
	case resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%w: object %q in bucket %q cannot be read with the signing role (missing, or access denied)", links.ErrInvalid, l.Key, l.Bucket)
	default:
		return fmt.Errorf("%w: HEAD %s/%s answered %d", ErrS3, l.Bucket, l.Key, resp.StatusCode)
	}
}

// mailQuotaWindow is the span a mail quota counts over.
const mailQuotaWindow = 24 * time.Hour

// checkMailQuota refuses a share of n messages that would take the actor
// over the mail quota. Errors: mail.ErrQuota.
func (a *App) checkMailQuota(ctx context.Context, actor Actor, n int) error {
	if a.cfg.MailQuota <= 0 || a.deliveries == nil {
		return nil
	}
	sent, err := a.deliveries.SharesSentBy(ctx, actor.Name, a.now().Add(-mailQuotaWindow))
	if err != nil {
		return err
	}
	if sent+n > a.cfg.MailQuota {
		return fmt.Errorf("%w: %d share messages in the last 24 hours, %d more asked, the quota is %d", mail.ErrQuota, sent, n, a.cfg.MailQuota)
	}
	return nil
}
