package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/db"
)

func runToken(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprintln(stderr, "usage: sharesvc token create --role admin|sharer|auditor --name NAME [--expires-in DURATION] [--db FILE]")
		if len(args) == 0 {
			return flag.ErrHelp
		}
		return fmt.Errorf("token: unknown subcommand %q (try \"sharesvc token create -h\")", args[0])
	}
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := &flagSource{fs: fs, getenv: getenv}
	var (
		path, name, role string
		expiresIn        time.Duration
	)
	f.str(&path, "db", "SHARESVC_DB", "sharesvc.db", "SQLite database file")
	fs.StringVar(&name, "name", "", "who holds the token; recorded as the actor in the audit log (required)")
	fs.StringVar(&role, "role", "", "admin, sharer or auditor (required)")
	fs.Var((*durationFlag)(&expiresIn), "expires-in", "token lifetime, e.g. 720h (default: never expires)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("token create: unexpected argument %q", fs.Arg(0))
	}
	if len(f.errs) > 0 {
		return errors.Join(f.errs...)
	}
	if name == "" || role == "" {
		return errors.New("token create: --name and --role are required (e.g. --role admin --name alice)")
	}
	secret, err := createToken(ctx, path, name, role, expiresIn, "cli", time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintln(stderr, "Created token", name, "with role", role+". It is shown once; store it now:")
	fmt.Fprintln(stdout, secret)
	return nil
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
