package server

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/sharesvc/sharesvc/internal/grants"
	"github.com/sharesvc/sharesvc/internal/web"
)

// grantsPage lists the grants in force: every grant to admins and
// auditors, a sharer's own to a sharer; admins also get the form.
func (s *Server) grantsPage(w http.ResponseWriter, r *http.Request, c *consoleCtx) error {
	return s.renderGrants(w, r, c, http.StatusOK, "")
}

func (s *Server) renderGrants(w http.ResponseWriter, r *http.Request, c *consoleCtx, status int, notice string) error {
	gs, err := s.app.Grants(r.Context(), s.actor(r), grants.Filter{})
	if err != nil {
		return err
	}
	type row struct {
		GrantResponse
		Ceilings string
	}
	d := struct {
		Grants        []row
		DefaultBucket string
	}{DefaultBucket: s.cfg.DefaultBucket}
	for _, g := range gs {
		var c []string
		if g.MaxLifetime > 0 {
			c = append(c, "life ≤ "+g.MaxLifetime.String())
		}
		if g.MaxUses > 0 {
			c = append(c, fmt.Sprintf("uses ≤ %d", g.MaxUses))
		}
		if g.MaxPresignTTL > 0 {
			c = append(c, "URL ≤ "+g.MaxPresignTTL.String())
		}
		if len(g.RecipientDomains) > 0 {
			c = append(c, "mail to "+strings.Join(g.RecipientDomains, ", "))
		}
		d.Grants = append(d.Grants, row{ToGrantResponse(g), strings.Join(c, "; ")})
	}
	p := c.page("Grants", "grants", d)
	p.Notice = notice
	return web.Render(w, status, "grants", p)
}

// createGrantForm creates a grant from the console's form, through the
// same verb as the API.
func (s *Server) createGrantForm(w http.ResponseWriter, r *http.Request, c *consoleCtx) error {
	f := r.PostForm
	req := GrantRequest{Bucket: strings.TrimSpace(f.Get("bucket")), KeyPrefix: f.Get("key_prefix"),
		Actions: f["action"], Reason: strings.TrimSpace(f.Get("reason"))}
	subject := strings.TrimSpace(f.Get("subject"))
	switch f.Get("who") {
	case "person":
		req.Person = subject
	case "role":
		req.Role = subject
	case "group":
		req.Group = subject
	default:
		return fmt.Errorf("%w: say whether the grant is for a role, a person or a group", grants.ErrInvalid)
	}
	num := func(name string, scale int64) (*int64, error) { return formNumber(f, name, scale, grants.ErrInvalid) }
	var err error
	if req.MaxLifetime, err = num("max_lifetime_hours", int64(time.Hour/time.Second)); err != nil {
		return err
	}
	if req.MaxUses, err = num("max_uses", 1); err != nil {
		return err
	}
	for _, d := range strings.Split(f.Get("recipient_domains"), ",") {
		if d = strings.TrimSpace(d); d != "" {
			req.RecipientDomains = append(req.RecipientDomains, d)
		}
	}
	g, err := req.Grant()
	if err != nil {
		return err
	}
	if g, err = s.app.CreateGrant(r.Context(), s.actor(r), g); err != nil {
		return err
	}
	info(r).outcome = "created"
	return s.renderGrants(w, r, c, http.StatusCreated, "Grant "+g.ID+" created for "+g.Subject()+".")
}

// revokeGrantForm revokes a grant, and its links when the box is ticked.
func (s *Server) revokeGrantForm(w http.ResponseWriter, r *http.Request, c *consoleCtx) error {
	id := mux.Vars(r)["id"]
	g, n, err := s.app.RevokeGrant(r.Context(), s.actor(r), id, "", r.PostForm.Get("revoke_links") != "")
	if err != nil {
		return err
	}
	info(r).outcome = "revoked"
	return s.renderGrants(w, r, c, http.StatusOK, fmt.Sprintf("Grant %s revoked; %d links revoked with it.", g.ID, n))
}
