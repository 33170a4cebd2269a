package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"time"

	"github.com/sharesvc/sharesvc/internal/server"
)

// linkCmd is "sharesvc link create|list|show|revoke|edit". All talk to the
// server at $SHARESVC_URL with $SHARESVC_TOKEN.
type linkCmd struct {
	Create linkCreateCmd `cmd:"" help:"Create a link (or, with --recipient, a share mailed to each recipient)."`
	List   linkListCmd   `cmd:"" help:"List links."`
	Show   linkShowCmd   `cmd:"" help:"Show a link."`
	Revoke linkRevokeCmd `cmd:"" help:"Revoke a link, by id or by its short URL."`
	Edit   linkEditCmd   `cmd:"" help:"Change a link's expiry, use cap or note."`
	// Arrivals is in link_arrivals.go.
	Arrivals linkArrivalsCmd `cmd:"" help:"List what arrived through an upload link, with the uploaders' file names."`
}

type linkCreateCmd struct {
	Kind            string        `name:"kind" default:"download" help:"download or upload."`
	Bucket          string        `name:"bucket" placeholder:"BUCKET" help:"Bucket (default: the server's)."`
	Key             string        `name:"key" placeholder:"KEY" help:"Object key (required, or --key-prefix for an upload link)."`
	KeyPrefix       string        `name:"key-prefix" placeholder:"PREFIX" help:"Upload links, instead of --key: each upload gets a generated name under PREFIX."`
	ExpiresIn       time.Duration `name:"expires-in" help:"Link lifetime, e.g. 24h, 3d or 1w (default: the server's)."`
	PresignTTL      time.Duration `name:"presign-ttl" help:"Lifetime of each minted URL, e.g. 60s or 5m (default: the server's)."`
	MaxUses         int           `name:"max-uses" default:"0" help:"Use cap (0: none)."`
	Note            string        `name:"note" placeholder:"TEXT" help:"Note for the recipient."`
	Filename        string        `name:"filename" placeholder:"NAME" help:"Download name (download links)."`
	MaxBytes        int64         `name:"max-bytes" default:"0" help:"Size cap (upload links)."`
	ContentType     string        `name:"content-type" placeholder:"TYPE" help:"Required Content-Type (upload links)."`
	Recipients      []string      `name:"recipient" sep:"none" placeholder:"ADDR" help:"Mail a link of their own to this address (repeat for more; the codes go only by mail)."`
	Notify          string        `name:"notify" placeholder:"ADDR" help:"With --recipient: address told when a recipient first opens their link."`
	NotifyMode      string        `name:"notify-mode" placeholder:"first|digest" help:"With --notify: first (a message per first open, the default) or digest."`
	VerifyRecipient bool          `name:"verify-recipient" help:"With --recipient: each recipient enters a code mailed to them before the first download."`
	// NotifyArrivals: upload links; --notify names the address.
	NotifyArrivals bool `name:"notify-arrivals" help:"Upload links: mail --notify about each upload that arrives."`
	clientFlags
}

func (c *linkCreateCmd) Run(e *runEnv) error {
	ctx, stdout, stderr := e.ctx, e.stdout, e.stderr
	req := map[string]any{"kind": c.Kind}
	for k, v := range map[string]string{"key": c.Key, "key_prefix": c.KeyPrefix, "bucket": c.Bucket, "note": c.Note, "filename": c.Filename, "content_type": c.ContentType,
		"notify": c.Notify, "notify_mode": c.NotifyMode} {
		if v != "" {
			req[k] = v
		}
	}
	if c.ExpiresIn > 0 {
		req["expires_in"] = int64(c.ExpiresIn / time.Second)
	}
	if c.PresignTTL > 0 {
		req["presign_ttl"] = int64(c.PresignTTL / time.Second)
	}
	if c.MaxUses > 0 {
		req["max_uses"] = c.MaxUses
	}
	if c.NotifyArrivals {
		req["notify_arrivals"] = true
	}
	if c.MaxBytes > 0 {
		req["max_bytes"] = c.MaxBytes
	}
	if c.VerifyRecipient && len(c.Recipients) == 0 {
		return errors.New("link create: --verify-recipient needs --recipient (it applies to links sent by email)")
	}
	cl := c.client()
	if len(c.Recipients) > 0 {
		req["recipients"] = c.Recipients
		if c.VerifyRecipient {
			req["verify_recipient"] = true
		}
		return createShare(ctx, cl, req, c.JSON, stdout, stderr)
	}
	var l server.LinkResponse
	if err := cl.do(ctx, "POST", "/api/v1/links", req, &l); err != nil {
		return fmt.Errorf("link create: %w", err)
	}
	if c.JSON {
		return printJSON(stdout, l)
	}
	fmt.Fprintln(stderr, "Created", l.ID, "expiring", fmtTime(&l.ExpiresAt)+". The short URL is shown once:")
	fmt.Fprintln(stdout, l.URL)
	return nil
}

type linkListCmd struct {
	State     string `name:"state" placeholder:"STATE" help:"live, revoked, expired, used_up or not_yet_valid."`
	CreatedBy string `name:"created-by" placeholder:"NAME" help:"Creator's token name."`
	Bucket    string `name:"bucket" placeholder:"BUCKET" help:"Bucket."`
	KeyPrefix string `name:"key-prefix" placeholder:"PREFIX" help:"Key prefix."`
	Kind      string `name:"kind" placeholder:"KIND" help:"download or upload."`
	Limit     int    `name:"limit" default:"100" help:"Links per page (1-500)."`
	All       bool   `name:"all" help:"Follow every page."`
	clientFlags
}

func (c *linkListCmd) Run(e *runEnv) error {
	ctx, stdout, stderr := e.ctx, e.stdout, e.stderr
	q := url.Values{}
	for k, v := range map[string]string{"state": c.State, "created_by": c.CreatedBy, "bucket": c.Bucket, "key_prefix": c.KeyPrefix, "kind": c.Kind} {
		if v != "" {
			q.Set(k, v)
		}
	}
	q.Set("limit", strconv.Itoa(c.Limit))
	cl := c.client()
	var out []server.LinkResponse
	for {
		var page server.LinkListResponse
		if err := cl.do(ctx, "GET", "/api/v1/links?"+q.Encode(), nil, &page); err != nil {
			return fmt.Errorf("link list: %w", err)
		}
		out = append(out, page.Links...)
		if !c.All || page.NextCursor == "" {
			if page.NextCursor != "" {
				fmt.Fprintln(stderr, "more links exist: add --all, or narrow the filter")
			}
			break
		}
		q.Set("cursor", page.NextCursor)
	}
	if c.JSON {
		return printJSON(stdout, out)
	}
	rows := make([][]string, 0, len(out))
	for _, l := range out {
		uses := strconv.Itoa(l.Uses)
		if l.MaxUses > 0 {
			uses += "/" + strconv.Itoa(l.MaxUses)
		}
		rows = append(rows, []string{l.ID, l.Kind, l.State, uses, l.CreatedBy, fmtTime(&l.ExpiresAt), l.Bucket + "/" + l.Key})
	}
	return table(stdout, []string{"ID", "KIND", "STATE", "USES", "CREATED BY", "EXPIRES", "OBJECT"}, rows)
}

type linkShowCmd struct {
	ID string `arg:"" help:"The link's id (lnk_…)."`
	clientFlags
}

func (c *linkShowCmd) Run(e *runEnv) error {
	var l server.LinkResponse
	if err := c.client().do(e.ctx, "GET", "/api/v1/links/"+url.PathEscape(c.ID), nil, &l); err != nil {
		return fmt.Errorf("link show: %w", err)
	}
	if c.JSON {
		return printJSON(e.stdout, l)
	}
	return showLink(e.stdout, &l)
}

type linkRevokeCmd struct {
	Link   string `arg:"" placeholder:"ID|SHORT-URL" help:"The link's id, or its short URL."`
	Reason string `name:"reason" placeholder:"TEXT" help:"Why (recorded in the audit log)."`
	clientFlags
}

func (c *linkRevokeCmd) Run(e *runEnv) error {
	var (
		l   server.LinkResponse
		err error
		cl  = c.client()
	)
	if u, perr := url.Parse(c.Link); perr == nil && u.Scheme != "" {
		err = cl.do(e.ctx, "POST", "/api/v1/links/revoke-by-url", map[string]string{"url": c.Link, "reason": c.Reason}, &l)
	} else {
		err = cl.do(e.ctx, "POST", "/api/v1/links/"+url.PathEscape(c.Link)+"/revoke", map[string]string{"reason": c.Reason}, &l)
	}
	if err != nil {
		return fmt.Errorf("link revoke: %w", err)
	}
	if c.JSON {
		return printJSON(e.stdout, l)
	}
	fmt.Fprintf(e.stdout, "revoked %s (%s/%s); URLs minted before now stay valid until they expire (at most %ds)\n", l.ID, l.Bucket, l.Key, l.PresignTTL)
	return nil
}

func showLink(w io.Writer, l *server.LinkResponse) error {
	uses := strconv.Itoa(l.Uses)
	if l.MaxUses > 0 {
		uses += " of " + strconv.Itoa(l.MaxUses)
	}
	rows := [][]string{
		{"id", l.ID}, {"kind", l.Kind}, {"state", l.State}, {"object", l.Bucket + "/" + l.Key},
		{"created", fmtTime(&l.CreatedAt) + " by " + l.CreatedBy}, {"expires", fmtTime(&l.ExpiresAt)},
		{"uses", uses}, {"presign ttl", strconv.FormatInt(l.PresignTTL, 10) + "s"}, {"last access", fmtTime(l.LastAccessAt)},
	}
	if l.ObjectBytes != nil {
		rows = append(rows, []string{"size", strconv.FormatInt(*l.ObjectBytes, 10) + " bytes"})
	}
	if l.Note != "" {
		rows = append(rows, []string{"note", l.Note})
	}
	if l.RevokedAt != nil {
		rows = append(rows, []string{"revoked", fmtTime(l.RevokedAt) + " by " + l.RevokedBy + ": " + l.RevokeReason})
	}
	return table(w, []string{"FIELD", "VALUE"}, rows)
}

// createShare creates a link per recipient (POST /api/v1/links with
// recipients) and prints the share: its id and, per recipient, the link id
// and the delivery state. The codes go only to the recipients, by mail.
func createShare(ctx context.Context, c *apiClient, req map[string]any, asJSON bool, stdout, stderr io.Writer) error {
	var sh server.ShareResponse
	if err := c.do(ctx, "POST", "/api/v1/links", req, &sh); err != nil {
		return fmt.Errorf("link create: %w", err)
	}
	if asJSON {
		return printJSON(stdout, sh)
	}
	fmt.Fprintf(stderr, "Created share %s: one link per recipient, sent by mail (the codes are not shown).\n", sh.ID)
	rows := make([][]string, 0, len(sh.Links))
	for _, l := range sh.Links {
		state := "-"
		if l.Delivery != nil {
			state = l.Delivery.State
		}
		rows = append(rows, []string{l.Recipient, l.ID, fmtTime(&l.ExpiresAt), state})
	}
	return table(stdout, []string{"RECIPIENT", "LINK", "EXPIRES", "MAIL"}, rows)
}
