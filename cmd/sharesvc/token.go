package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/sharesvc/sharesvc/internal/app"
	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/db"
	"github.com/sharesvc/sharesvc/internal/grants"
	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/people"
	"github.com/sharesvc/sharesvc/internal/server"
	"github.com/sharesvc/sharesvc/internal/sts"
)

// tokenCmd is "sharesvc token create|list|revoke|rotate".
type tokenCmd struct {
	Create tokenCreateCmd `cmd:"" help:"Create a token; without $$SHARESVC_URL (or with --offline) it writes straight into the database file: that is how the first admin token is made."`
	List   tokenListCmd   `cmd:"" help:"List tokens."`
	Revoke tokenRevokeCmd `cmd:"" help:"Revoke a token."`
	Rotate tokenRotateCmd `cmd:"" help:"Give a person's token a new secret; the old one stops working at once."`
}

type tokenCreateCmd struct {
	Role        string        `name:"role" placeholder:"admin|sharer|auditor" help:"The token's role (required)."`
	Name        string        `name:"name" placeholder:"NAME" help:"Who holds the token; recorded as the actor in the audit log (required)."`
	ExpiresIn   time.Duration `name:"expires-in" help:"Token lifetime, e.g. 720h (default: never expires)."`
	DisplayName string        `name:"display-name" placeholder:"TEXT" help:"The person's name in the mail sent on their behalf (\"Alice Example\")."`
	Email       string        `name:"email" placeholder:"ADDRESS" help:"The person's address: Reply-To of the mail sent on their behalf."`
	DB          string        `name:"db" envvar:"SHARESVC_DB" default:"sharesvc.db" help:"SQLite database file or postgres:// URL (offline mode)."`
	Offline     bool          `name:"offline" help:"Write into the database file even if $$SHARESVC_URL is set."`
	clientFlags
}

func (c *tokenCreateCmd) Run(e *runEnv) error {
	ctx, stdout, stderr := e.ctx, e.stdout, e.stderr
	path, name, role, expiresIn := c.DB, c.Name, c.Role, c.ExpiresIn
	if name == "" || role == "" {
		return errors.New("token create: --name and --role are required (e.g. --role admin --name alice)")
	}
	if c.Offline || c.URL == "" {
		secret, err := createTokenFor(ctx, path, app.TokenRequest{Name: name, Role: role, DisplayName: c.DisplayName, Email: c.Email}, expiresIn, "cli", time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintln(stderr, "Created token", name, "with role", role, "in", db.Redact(path)+". It is shown once; store it now:")
		fmt.Fprintln(stdout, secret)
		return nil
	}
	req := map[string]any{"name": name, "role": role}
	if c.DisplayName != "" || c.Email != "" {
		req["display_name"], req["email"] = c.DisplayName, c.Email
	}
	if expiresIn > 0 {
		req["expires_in"] = int64(expiresIn / time.Second)
	}
	var t server.TokenResponse
	if err := c.client().do(ctx, "POST", "/api/v1/tokens", req, &t); err != nil {
		return fmt.Errorf("token create: %w", err)
	}
	if c.JSON {
		return printJSON(stdout, t)
	}
	fmt.Fprintln(stderr, "Created token", t.ID, "for", t.Name, "with role", t.Role+". It is shown once; store it now:")
	fmt.Fprintln(stdout, t.Token)
	return nil
}

type tokenListCmd struct {
	clientFlags
}

func (c *tokenListCmd) Run(e *runEnv) error {
	var out struct {
		Tokens []server.TokenResponse `json:"tokens"`
	}
	if err := c.client().do(e.ctx, "GET", "/api/v1/tokens", nil, &out); err != nil {
		return fmt.Errorf("token list: %w", err)
	}
	if c.JSON {
		return printJSON(e.stdout, out.Tokens)
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
	return table(e.stdout, []string{"ID", "NAME", "ROLE", "STATE", "EXPIRES", "LAST USED"}, rows)
}

type tokenRevokeCmd struct {
	ID     string `arg:"" help:"The token's id (from token list)."`
	Reason string `name:"reason" placeholder:"TEXT" help:"Why (recorded in the audit log)."`
	clientFlags
}

func (c *tokenRevokeCmd) Run(e *runEnv) error {
	var t server.TokenResponse
	if err := c.client().do(e.ctx, "POST", "/api/v1/tokens/"+url.PathEscape(c.ID)+"/revoke", map[string]string{"reason": c.Reason}, &t); err != nil {
		return fmt.Errorf("token revoke: %w", err)
	}
	if c.JSON {
		return printJSON(e.stdout, t)
	}
	fmt.Fprintln(e.stdout, "revoked token", t.ID, "of", t.Name)
	return nil
}

type tokenRotateCmd struct {
	Name   string `arg:"" help:"The person's name (the token's name)."`
	Reason string `name:"reason" placeholder:"TEXT" help:"Why (recorded in the audit log)."`
	clientFlags
}

func (c *tokenRotateCmd) Run(e *runEnv) error {
	var out struct {
		Tokens []server.TokenResponse `json:"tokens"`
	}
	if err := c.client().do(e.ctx, "GET", "/api/v1/tokens", nil, &out); err != nil {
		return fmt.Errorf("token rotate: %w", err)
	}
	id := ""
	for _, t := range out.Tokens {
		if t.Name == c.Name && t.RevokedAt == nil {
			id = t.ID
		}
	}
	if id == "" {
		return fmt.Errorf("token rotate: no live token is named %q (see: sharesvc token list)", c.Name)
	}
	var t server.TokenResponse
	if err := c.client().do(e.ctx, "POST", "/api/v1/tokens/"+url.PathEscape(id)+"/rotate", map[string]string{"reason": c.Reason}, &t); err != nil {
		return fmt.Errorf("token rotate: %w", err)
	}
	if c.JSON {
		return printJSON(e.stdout, t)
	}
	fmt.Fprintln(e.stderr, "Rotated token", t.ID, "of", t.Name+"; the old secret no longer works. The new one is shown once; store it now:")
	fmt.Fprintln(e.stdout, t.Token)
	return nil
}

// createToken stores a new token in the database at path, audited as
// created by actor, and returns its secret. It creates through the same
// verb as the API: whoever holds the database file acts as an admin.
func createToken(ctx context.Context, path, name, roleName string, expiresIn time.Duration, actor string, now time.Time) (string, error) {
	return createTokenFor(ctx, path, app.TokenRequest{Name: name, Role: roleName}, expiresIn, actor, now)
}

// createTokenFor is createToken for a request that may name the person too.
func createTokenFor(ctx context.Context, path string, req app.TokenRequest, expiresIn time.Duration, actor string, now time.Time) (string, error) {
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
	a, closeApp, err := offlineApp(ctx, d, now)
	if err != nil {
		return "", err
	}
	defer closeApp()
	_, secret, err := a.CreateToken(ctx, app.Actor{Name: actor, Role: auth.RoleAdmin}, req)
	if err != nil {
		return "", fmt.Errorf("token create: %w", err)
	}
	return secret, nil
}

// offlineApp is the use-case layer over the open database d for a
// command that works offline: it signs nothing and audits through its
// own log, closed by the returned func.
func offlineApp(ctx context.Context, d *db.DB, now time.Time) (*app.App, func(), error) {
	log, err := audit.Open(ctx, d.Write, audit.Options{})
	if err != nil {
		return nil, nil, err
	}
	a, err := app.New(app.Config{}, app.Deps{Links: links.NewStore(d.Read), Tokens: auth.NewStore(d.Read), Audit: log, Grants: grants.NewStore(d.Read),
		People: people.NewStore(d.Read), Signer: sts.NewSigner(offline{}, nil, sts.SignerOptions{}), Clock: func() time.Time { return now }})
	if err != nil {
		log.Close()
		return nil, nil, err
	}
	return a, func() { log.Close() }, nil
}

// offline is the signer's credentials source when the CLI works on the
// database file: it has no STS session, and creating a token signs nothing.
type offline struct{}

func (offline) Retrieve(context.Context) (sts.Credentials, error) {
	return sts.Credentials{}, errors.New("offline: no STS session")
}
