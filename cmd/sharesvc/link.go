package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sharesvc/sharesvc/internal/server"
)

const linkUsage = `usage:
  sharesvc link create [--kind download|upload] [--bucket B] --key KEY [--expires-in DUR] [--max-uses N] [--presign-ttl DUR] [--note TEXT] [--filename NAME] [--max-bytes N] [--content-type T]
                       [--recipient ADDR]... [--notify ADDR] [--notify-mode first|digest]
  sharesvc link list [--state S] [--created-by NAME] [--bucket B] [--key-prefix P] [--kind K] [--limit N] [--all]
  sharesvc link show ID
  sharesvc link revoke ID|SHORT-URL [--reason TEXT]
All talk to the server at $SHARESVC_URL with $SHARESVC_TOKEN; add --json for scripts.`

func runLink(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, linkUsage)
		return fmt.Errorf("link: missing subcommand (create, list, show or revoke)")
	}
	f, c, asJSON := clientFlags("link "+args[0], getenv, stderr)
	switch args[0] {
	case "create":
		var (
			kind, bucket, key, note, filename, ctype string
			notify, notifyMode                       string
			recipients                               stringsFlag
			expiresIn, ttl                           time.Duration
			maxUses                                  int
			maxBytes                                 int64
		)
		f.fs.StringVar(&kind, "kind", "download", "download or upload")
		f.fs.StringVar(&bucket, "bucket", "", "bucket (default: the server's)")
		f.fs.StringVar(&key, "key", "", "object key (required)")
		f.fs.Var((*durationFlag)(&expiresIn), "expires-in", "link lifetime, e.g. 24h (default: the server's)")
		f.fs.Var((*durationFlag)(&ttl), "presign-ttl", "lifetime of each minted URL, e.g. 60s (default: the server's)")
		f.fs.IntVar(&maxUses, "max-uses", 0, "use cap (0: none)")
		f.fs.StringVar(&note, "note", "", "note for the recipient")
		f.fs.StringVar(&filename, "filename", "", "download name (download links)")
		f.fs.Int64Var(&maxBytes, "max-bytes", 0, "size cap (upload links)")
		f.fs.StringVar(&ctype, "content-type", "", "required Content-Type (upload links)")
		f.fs.Var(&recipients, "recipient", "mail a link of their own to this address (repeat for more; the codes go only by mail)")
		f.fs.StringVar(&notify, "notify", "", "with --recipient: address told when a recipient first opens their link")
		f.fs.StringVar(&notifyMode, "notify-mode", "", "with --notify: first (a message per first open, the default) or digest")
		if _, err := parseFlags(f, args[1:], 0, "sharesvc link create --key KEY [flags]"); err != nil {
			return err
		}
		req := map[string]any{"kind": kind, "key": key}
		for k, v := range map[string]string{"bucket": bucket, "note": note, "filename": filename, "content_type": ctype,
			"notify": notify, "notify_mode": notifyMode} {
			if v != "" {
				req[k] = v
			}
		}
		if expiresIn > 0 {
			req["expires_in"] = int64(expiresIn / time.Second)
		}
		if ttl > 0 {
			req["presign_ttl"] = int64(ttl / time.Second)
		}
		if maxUses > 0 {
			req["max_uses"] = maxUses
		}
		if maxBytes > 0 {
			req["max_bytes"] = maxBytes
		}
		if len(recipients) > 0 {
			req["recipients"] = []string(recipients)
			return createShare(ctx, c, req, *asJSON, stdout, stderr)
		}
		var l server.LinkResponse
		if err := c.do(ctx, "POST", "/api/v1/links", req, &l); err != nil {
			return fmt.Errorf("link create: %w", err)
		}
		if *asJSON {
			return printJSON(stdout, l)
		}
		fmt.Fprintln(stderr, "Created", l.ID, "expiring", fmtTime(&l.ExpiresAt)+". The short URL is shown once:")
		fmt.Fprintln(stdout, l.URL)
		return nil

	case "list":
		var (
			state, by, bucket, prefix, kind string
			limit                           int
			all                             bool
		)
		f.fs.StringVar(&state, "state", "", "live, revoked, expired, used_up or not_yet_valid")
		f.fs.StringVar(&by, "created-by", "", "creator's token name")
		f.fs.StringVar(&bucket, "bucket", "", "bucket")
		f.fs.StringVar(&prefix, "key-prefix", "", "key prefix")
		f.fs.StringVar(&kind, "kind", "", "download or upload")
		f.fs.IntVar(&limit, "limit", 100, "links per page (1-500)")
		f.fs.BoolVar(&all, "all", false, "follow every page")
		if _, err := parseFlags(f, args[1:], 0, "sharesvc link list [flags]"); err != nil {
			return err
		}
		q := url.Values{}
		for k, v := range map[string]string{"state": state, "created_by": by, "bucket": bucket, "key_prefix": prefix, "kind": kind} {
			if v != "" {
				q.Set(k, v)
			}
		}
		q.Set("limit", strconv.Itoa(limit))
		var out []server.LinkResponse
		for {
			var page server.LinkListResponse
			if err := c.do(ctx, "GET", "/api/v1/links?"+q.Encode(), nil, &page); err != nil {
				return fmt.Errorf("link list: %w", err)
			}
			out = append(out, page.Links...)
			if !all || page.NextCursor == "" {
				if page.NextCursor != "" {
					fmt.Fprintln(stderr, "more links exist: add --all, or narrow the filter")
				}
				break
			}
			q.Set("cursor", page.NextCursor)
		}
		if *asJSON {
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

	case "show":
		a, err := parseFlags(f, args[1:], 1, "sharesvc link show ID")
		if err != nil {
			return err
		}
		var l server.LinkResponse
		if err := c.do(ctx, "GET", "/api/v1/links/"+url.PathEscape(a[0]), nil, &l); err != nil {
			return fmt.Errorf("link show: %w", err)
		}
		if *asJSON {
			return printJSON(stdout, l)
		}
		return showLink(stdout, &l)

	case "revoke":
		var reason string
		f.fs.StringVar(&reason, "reason", "", "why (recorded in the audit log)")
		a, err := parseFlags(f, reorder(args[1:]), 1, "sharesvc link revoke ID|SHORT-URL [--reason TEXT]")
		if err != nil {
			return err
		}
		var l server.LinkResponse
		if u, perr := url.Parse(a[0]); perr == nil && u.Scheme != "" {
			err = c.do(ctx, "POST", "/api/v1/links/revoke-by-url", map[string]string{"url": a[0], "reason": reason}, &l)
		} else {
			err = c.do(ctx, "POST", "/api/v1/links/"+url.PathEscape(a[0])+"/revoke", map[string]string{"reason": reason}, &l)
		}
		if err != nil {
			return fmt.Errorf("link revoke: %w", err)
		}
		if *asJSON {
			return printJSON(stdout, l)
		}
		fmt.Fprintf(stdout, "revoked %s (%s/%s); URLs minted before now stay valid until they expire (at most %ds)\n", l.ID, l.Bucket, l.Key, l.PresignTTL)
		return nil
	}
	fmt.Fprintln(stderr, linkUsage)
	return fmt.Errorf("link: unknown subcommand %q", args[0])
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
	if l.Note != "" {
		rows = append(rows, []string{"note", l.Note})
	}
	if l.RevokedAt != nil {
		rows = append(rows, []string{"revoked", fmtTime(l.RevokedAt) + " by " + l.RevokedBy + ": " + l.RevokeReason})
	}
	return table(w, []string{"FIELD", "VALUE"}, rows)
}

// reorder moves flags after positional arguments to the front, so that
// "revoke ID --reason x" works as people type it.
func reorder(args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if len(a) > 1 && a[0] == '-' {
			flags = append(flags, a)
			if !strings.Contains(a, "=") && i+1 < len(args) && a != "--json" && a != "-json" {
				flags = append(flags, args[i+1])
				i++
			}
			continue
		}
		pos = append(pos, a)
	}
	return append(flags, pos...)
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

// stringsFlag collects every value of a repeated flag.
type stringsFlag []string

func (s *stringsFlag) String() string { return strings.Join(*s, ",") }
func (s *stringsFlag) Set(v string) error {
	*s = append(*s, v)
	return nil
}
