package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/sharesvc/sharesvc/internal/app"
	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/db"
	"github.com/sharesvc/sharesvc/internal/grants"
	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/server"
	"github.com/sharesvc/sharesvc/internal/sts"
)

const tokenUsage = `usage:
  sharesvc token create --role admin|sharer|auditor --name NAME [--expires-in DURATION] [--json]
  sharesvc token list [--json]
  sharesvc token revoke ID [--reason TEXT]
"create" talks to the server at $SHARESVC_URL with $SHARESVC_TOKEN; without
$SHARESVC_URL (or with --offline) it writes straight into the database file
(--db, $SHARESVC_DB): that is how the first admin token is made.`

func runToken(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, tokenUsage)
		return flag.ErrHelp
	}
	f, c, asJSON := clientFlags("token "+args[0], getenv, stderr)
	switch args[0] {
	case "create":
		var (
			path, name, role string
			expiresIn        time.Duration
			offline          bool
		)
		f.str(&path, "db", "SHARESVC_DB", "sharesvc.db", "SQLite database file (offline mode)")
		f.fs.StringVar(&name, "name", "", "who holds the token; recorded as the actor in the audit log (required)")
		f.fs.StringVar(&role, "role", "", "admin, sharer or auditor (required)")
		f.fs.Var((*durationFlag)(&expiresIn), "expires-in", "token lifetime, e.g. 720h (default: never expires)")
		f.fs.BoolVar(&offline, "offline", false, "write into the database file even if $SHARESVC_URL is set")
		if _, err := parseFlags(f, args[1:], 0, "sharesvc token create --role ROLE --name NAME"); err != nil {
			return err
		}
		if name == "" || role == "" {
			return errors.New("token create: --name and --role are required (e.g. --role admin --name alice)")
		}
		if offline || c.base == "" {
			secret, err := createToken(ctx, path, name, role, expiresIn, "cli", time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintln(stderr, "Created token", name, "with role", role, "in", path+". It is shown once; store it now:")
			fmt.Fprintln(stdout, secret)
			return nil
		}
		req := map[string]any{"name": name, "role": role}
		if expiresIn > 0 {
			req["expires_in"] = int64(expiresIn / time.Second)
		}
		var t server.TokenResponse
		if err := c.do(ctx, "POST", "/api/v1/tokens", req, &t); err != nil {
			return fmt.Errorf("token create: %w", err)
		}
		if *asJSON {
			return printJSON(stdout, t)
		}
		fmt.Fprintln(stderr, "Created token", t.ID, "for", t.Name, "with role", t.Role+". It is shown once; store it now:")
		fmt.Fprintln(stdout, t.Token)
		return nil

	case "list":
		if _, err := parseFlags(f, args[1:], 0, "sharesvc token list"); err != nil {
			return err
		}
		var out struct {
			Tokens []server.TokenResponse `json:"tokens"`
		}
		if err := c.do(ctx, "GET", "/api/v1/tokens", nil, &out); err != nil {
			return fmt.Errorf("token list: %w", err)
		}
		if *asJSON {
			return printJSON(stdout, out.Tokens)
		}
		var rows [][]string
		for _, t := range out.Tokens {
			state := "active"
			if t.RevokedAt != nil {
				state = "revoked"
			} else if t.ExpiresAt != nil && t.ExpiresAt.Before(time.Now()) {
				state = "expired"
			}
			rows = append(rows, []string{t.ID, t.Name, t.Role, state, fmtTime(t.ExpiresAt), fmtTime(t.LastUsedAt)})
		}
		return table(stdout, []string{"ID", "NAME", "ROLE", "STATE", "EXPIRES", "LAST USED"}, rows)

	case "revoke":
		var reason string
		f.fs.StringVar(&reason, "reason", "", "why (recorded in the audit log)")
		a, err := parseFlags(f, reorder(args[1:]), 1, "sharesvc token revoke ID [--reason TEXT]")
		if err != nil {
			return err
		}
		var t server.TokenResponse
		if err := c.do(ctx, "POST", "/api/v1/tokens/"+url.PathEscape(a[0])+"/revoke", map[string]string{"reason": reason}, &t); err != nil {
			return fmt.Errorf("token revoke: %w", err)
		}
		if *asJSON {
			return printJSON(stdout, t)
		}
		fmt.Fprintln(stdout, "revoked token", t.ID, "of", t.Name)
		return nil
	}
	fmt.Fprintln(stderr, tokenUsage)
	return fmt.Errorf("token: unknown subcommand %q", args[0])
}

// createToken stores a new token in the database at path, audited as
// created by actor, and returns its secret. It creates through the same
// verb as the API: whoever holds the database file acts as an admin.
func createToken(ctx context.Context, path, name, roleName string, expiresIn time.Duration, actor string, now time.Time) (string, error) {
	req := app.TokenRequest{Name: name, Role: roleName}
	if expiresIn > 0 {
		secs := int64(expiresIn / time.Second)
		req.ExpiresIn = &secs
	}
	if err := req.Validate(); err != nil { // before the database file is created
		return "", err
	}
	if expiresIn < 0 {
		return "", fmt.Errorf("%w: --expires-in must be positive", auth.ErrInvalid)
	}
	d, err := db.Open(ctx, path)
	if err != nil {
		return "", err
	}
	defer d.Close()
	log, err := audit.Open(ctx, d.Write, audit.Options{})
	if err != nil {
		return "", err
	}
	defer log.Close()
	a, err := app.New(app.Config{}, app.Deps{Links: links.NewStore(d.Read), Tokens: auth.NewStore(d.Read), Audit: log, Grants: grants.NewStore(d.Read),
		Signer: sts.NewSigner(offline{}, nil, sts.SignerOptions{}), Clock: func() time.Time { return now }})
	if err != nil {
		return "", err
	}
	_, secret, err := a.CreateToken(ctx, app.Actor{Name: actor, Role: auth.RoleAdmin}, req)
	if err != nil {
		return "", fmt.Errorf("token create: %w", err)
	}
	return secret, nil
}

// offline is the signer's credentials source when the CLI works on the
// database file: it has no STS session, and creating a token signs nothing.
type offline struct{}

func (offline) Retrieve(context.Context) (sts.Credentials, error) {
	return sts.Credentials{}, errors.New("offline: no STS session")
}
