package main

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/sharesvc/sharesvc/internal/server"
)

type linkEditCmd struct {
	ID        string         `arg:"" help:"The link's id (lnk_…)."`
	ExpiresIn *time.Duration `name:"expires-in" help:"New lifetime from now, e.g. 12h, 3d or 1w."`
	ExpiresAt *time.Time     `name:"expires-at" placeholder:"TIME" help:"New expiry, RFC 3339 (instead of --expires-in)."`
	MaxUses   *int           `name:"max-uses" placeholder:"N" help:"New use cap; not below the uses already spent."`
	NoMaxUses bool           `name:"no-max-uses" help:"Remove the use cap (where neither the grant nor the server sets one)."`
	Note      *string        `name:"note" placeholder:"TEXT" help:"New note (\"\" clears it)."`
	clientFlags
}

// Run sends the changes asked for as a merge patch (PATCH
// /api/v1/links/ID) and shows the link as changed.
func (c *linkEditCmd) Run(e *runEnv) error {
	patch := map[string]any{}
	switch {
	case c.ExpiresIn != nil && c.ExpiresAt != nil:
		return errors.New("link edit: give --expires-in or --expires-at, not both")
	case c.ExpiresIn != nil:
		if *c.ExpiresIn < time.Second || *c.ExpiresIn%time.Second != 0 {
			return fmt.Errorf("link edit: --expires-in %s must be a positive whole number of seconds", *c.ExpiresIn)
		}
		patch["expires_in"] = int64(*c.ExpiresIn / time.Second)
	case c.ExpiresAt != nil:
		patch["expires_at"] = c.ExpiresAt.UTC().Format(time.RFC3339Nano)
	}
	switch {
	case c.MaxUses != nil && c.NoMaxUses:
		return errors.New("link edit: give --max-uses or --no-max-uses, not both")
	case c.MaxUses != nil:
		patch["max_uses"] = *c.MaxUses
	case c.NoMaxUses:
		patch["max_uses"] = nil
	}
	if c.Note != nil {
		patch["note"] = *c.Note
	}
	if len(patch) == 0 {
		return errors.New("link edit: nothing to change; give --expires-in, --expires-at, --max-uses, --no-max-uses or --note")
	}
	var l server.LinkResponse
	if err := c.client().do(e.ctx, "PATCH", "/api/v1/links/"+url.PathEscape(c.ID), patch, &l); err != nil {
		return fmt.Errorf("link edit: %w", err)
	}
	if c.JSON {
		return printJSON(e.stdout, l)
	}
	return showLink(e.stdout, &l)
}
