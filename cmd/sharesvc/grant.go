package main

import (
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sharesvc/sharesvc/internal/server"
)

// grantCmd manages grants: who may share what.
type grantCmd struct {
	Create grantCreateCmd `cmd:"" help:"Let a person, a role or a provider group share one bucket and key prefix (admins)."`
	List   grantListCmd   `cmd:"" help:"List grants (sharers see the grants that apply to them)."`
	Show   grantShowCmd   `cmd:"" help:"Show a grant."`
	Revoke grantRevokeCmd `cmd:"" help:"Revoke a grant (admins); --revoke-links also revokes its links."`
}

type grantCreateCmd struct {
	Person        string        `name:"person" placeholder:"NAME" xor:"subject" required:"" help:"A person (a token's name) the grant is for."`
	Role          string        `name:"role" placeholder:"ROLE" xor:"subject" required:"" help:"Or every holder of a role (sharer, auditor, admin)."`
	Group         string        `name:"group" placeholder:"NAME" xor:"subject" required:"" help:"Or everyone the identity provider puts in this group."`
	Bucket        string        `name:"bucket" placeholder:"BUCKET" required:"" help:"The bucket."`
	Prefix        string        `name:"prefix" placeholder:"PREFIX" help:"Key prefix ('' for the whole bucket); {person} is the creator's name."`
	Actions       string        `name:"actions" placeholder:"LIST" required:"" help:"download, upload and/or email, comma-separated."`
	MaxLifetime   time.Duration `name:"max-lifetime" help:"Ceiling on a link's lifetime, e.g. 1w or 30d (default: the server's)."`
	MaxUses       int           `name:"max-uses" default:"0" help:"Ceiling on a link's use cap (0: the server's)."`
	MaxPresignTTL time.Duration `name:"max-presign-ttl" help:"Ceiling on each URL's lifetime, e.g. 30s (default: the server's)."`
	Domains       []string      `name:"recipient-domain" placeholder:"DOMAIN" help:"With email: the only mail domain shares may go to (repeatable)."`
	Reason        string        `name:"reason" placeholder:"TEXT" help:"Why (recorded in the audit log)."`
	clientFlags
}

func (c *grantCreateCmd) Run(e *runEnv) error {
	req := server.GrantRequest{Person: c.Person, Role: c.Role, Group: c.Group, Bucket: c.Bucket, KeyPrefix: c.Prefix,
		RecipientDomains: c.Domains, Reason: c.Reason}
	for _, a := range strings.FieldsFunc(c.Actions, func(r rune) bool { return r == ',' || r == '+' || r == ' ' }) {
		req.Actions = append(req.Actions, a)
	}
	secs := func(flag string, d time.Duration) (*int64, error) {
		switch {
		case d == 0:
			return nil, nil
		case d < time.Second || d%time.Second != 0:
			return nil, fmt.Errorf("grant create: --%s %s must be whole seconds, at least 1s", flag, d)
		}
		n := int64(d / time.Second)
		return &n, nil
	}
	var err error
	if req.MaxLifetime, err = secs("max-lifetime", c.MaxLifetime); err != nil {
		return err
	}
	if req.MaxPresignTTL, err = secs("max-presign-ttl", c.MaxPresignTTL); err != nil {
		return err
	}
	switch {
	case c.MaxUses < 0:
		return fmt.Errorf("grant create: --max-uses %d must not be negative", c.MaxUses)
	case c.MaxUses > 0:
		n := int64(c.MaxUses)
		req.MaxUses = &n
	}
	var g server.GrantResponse
	if err := c.client().do(e.ctx, "POST", "/api/v1/grants", req, &g); err != nil {
		return fmt.Errorf("grant create: %w", err)
	}
	if c.JSON {
		return printJSON(e.stdout, g)
	}
	return showGrant(e.stdout, &g)
}

type grantListCmd struct {
	Person string `name:"person" placeholder:"NAME" help:"Grants naming this person."`
	Role   string `name:"role" placeholder:"ROLE" help:"Grants naming this role."`
	Group  string `name:"group" placeholder:"NAME" help:"Grants naming this provider group."`
	All    bool   `name:"all" help:"Revoked grants too."`
	clientFlags
}

func (c *grantListCmd) Run(e *runEnv) error {
	q := url.Values{}
	if c.Person != "" {
		q.Set("person", c.Person)
	}
	if c.Role != "" {
		q.Set("role", c.Role)
	}
	if c.Group != "" {
		q.Set("group", c.Group)
	}
	if c.All {
		q.Set("state", "all")
	}
	var resp server.GrantListResponse
	if err := c.client().do(e.ctx, "GET", "/api/v1/grants?"+q.Encode(), nil, &resp); err != nil {
		return fmt.Errorf("grant list: %w", err)
	}
	if c.JSON {
		return printJSON(e.stdout, resp.Grants)
	}
	rows := make([][]string, 0, len(resp.Grants))
	for _, g := range resp.Grants {
		rows = append(rows, []string{g.ID, grantSubject(&g), g.Bucket + "/" + g.KeyPrefix, strings.Join(g.Actions, ","),
			ceilings(&g), g.State})
	}
	return table(e.stdout, []string{"ID", "FOR", "BUCKET/PREFIX", "ACTIONS", "CEILINGS", "STATE"}, rows)
}

type grantShowCmd struct {
	ID string `arg:"" help:"The grant's id (grt_…)."`
	clientFlags
}

func (c *grantShowCmd) Run(e *runEnv) error {
	var g server.GrantResponse
	if err := c.client().do(e.ctx, "GET", "/api/v1/grants/"+url.PathEscape(c.ID), nil, &g); err != nil {
		return fmt.Errorf("grant show: %w", err)
	}
	if c.JSON {
		return printJSON(e.stdout, g)
	}
	return showGrant(e.stdout, &g)
}

type grantRevokeCmd struct {
	ID          string `arg:"" help:"The grant's id (grt_…)."`
	Reason      string `name:"reason" placeholder:"TEXT" help:"Why (recorded in the audit log)."`
	RevokeLinks bool   `name:"revoke-links" help:"Also revoke every live link made under the grant."`
	clientFlags
}

func (c *grantRevokeCmd) Run(e *runEnv) error {
	var resp server.GrantRevokeResponse
	body := map[string]any{"reason": c.Reason, "revoke_links": c.RevokeLinks}
	if err := c.client().do(e.ctx, "POST", "/api/v1/grants/"+url.PathEscape(c.ID)+"/revoke", body, &resp); err != nil {
		return fmt.Errorf("grant revoke: %w", err)
	}
	if c.JSON {
		return printJSON(e.stdout, resp)
	}
	fmt.Fprintf(e.stdout, "grant %s revoked; %d links revoked with it\n", resp.Grant.ID, resp.LinksRevoked)
	return nil
}

func grantSubject(g *server.GrantResponse) string {
	switch {
	case g.Person != "":
		return "person " + g.Person
	case g.Group != "":
		return "group " + g.Group
	}
	return "role " + g.Role
}

func ceilings(g *server.GrantResponse) string {
	var c []string
	if g.MaxLifetime > 0 {
		c = append(c, "life≤"+(time.Duration(g.MaxLifetime)*time.Second).String())
	}
	if g.MaxUses > 0 {
		c = append(c, "uses≤"+strconv.Itoa(g.MaxUses))
	}
	if g.MaxPresignTTL > 0 {
		c = append(c, "url≤"+(time.Duration(g.MaxPresignTTL)*time.Second).String())
	}
	if len(g.RecipientDomains) > 0 {
		c = append(c, "mail@"+strings.Join(g.RecipientDomains, ","))
	}
	if len(c) == 0 {
		return "-"
	}
	return strings.Join(c, " ")
}

func showGrant(w io.Writer, g *server.GrantResponse) error {
	rows := [][]string{
		{"id", g.ID}, {"for", grantSubject(g)}, {"bucket", g.Bucket}, {"key prefix", g.KeyPrefix},
		{"actions", strings.Join(g.Actions, ", ")}, {"ceilings", ceilings(g)}, {"state", g.State},
		{"created", fmtTime(&g.CreatedAt) + " by " + g.CreatedBy}, {"reason", g.Reason},
	}
	if g.RevokedAt != nil {
		rows = append(rows, []string{"revoked", fmtTime(g.RevokedAt) + " by " + g.RevokedBy + ": " + g.RevokeReason})
	}
	return table(w, nil, rows)
}
