package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/db"
	"github.com/sharesvc/sharesvc/internal/server"
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
// created by actor, and returns its secret.
func createToken(ctx context.Context, path, name, roleName string, expiresIn time.Duration, actor string, now time.Time) (string, error) {
	role, err := auth.ParseRole(roleName)
	if err != nil {
		return "", err
	}
	if err := auth.ValidateName(name); err != nil {
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
	secret, hash := auth.NewSecret()
	now = now.UTC().Truncate(time.Millisecond)
	t := &auth.Token{ID: auth.NewID(), Name: name, Role: role, CreatedAt: now, CreatedBy: actor}
	if expiresIn > 0 {
		t.ExpiresAt = now.Add(expiresIn)
	}
	detail, _ := json.Marshal(map[string]any{"token_id": t.ID, "name": name, "role": role})
	ev := audit.Event{Action: audit.ActionTokenCreate, Actor: actor, Outcome: audit.OutcomeOK, Detail: string(detail)}
	if _, err := log.Append(ctx, ev, func(ctx context.Context, tx *sql.Tx, _ *audit.Event) error {
		return auth.Insert(ctx, tx, t, hash)
	}); err != nil {
		return "", fmt.Errorf("token create: %w", err)
	}
	return secret, nil
}
