package server

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/sharesvc/sharesvc/internal/app"
	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/duration"
	"github.com/sharesvc/sharesvc/internal/web"
)

// The console's "Your API tokens" page: every signed-in person mints,
// lists and revokes the tokens of their own scripts, through the same
// verbs as /api/v1/me/tokens.

// ownTokenLifetimes are the lifetimes the form offers, up to the server's
// maximum.
var ownTokenLifetimes = []struct {
	value string
	d     time.Duration
	label string
}{
	{"1d", duration.Day, "1 day"},
	{"7d", 7 * duration.Day, "7 days"},
	{"30d", 30 * duration.Day, "30 days"},
	{"90d", 90 * duration.Day, "90 days"},
}

type ownTokenRow struct {
	OwnTokenResponse
	Live bool
}

type lifetimeChoice struct {
	Value, Label string
	Selected     bool
}

type ownTokensData struct {
	Tokens    []ownTokenRow
	Lifetimes []lifetimeChoice
	Created   *OwnTokenResponse // the token just minted, with its secret
	CanMint   bool              // false when signed in with a personal token
}

func (s *Server) ownTokensPage(w http.ResponseWriter, r *http.Request, c *consoleCtx) error {
	return s.renderOwnTokens(w, r, c, http.StatusOK, "", nil)
}

func (s *Server) renderOwnTokens(w http.ResponseWriter, r *http.Request, c *consoleCtx, status int, notice string, created *OwnTokenResponse) error {
	a := s.actor(r)
	ts, err := s.app.ListOwnTokens(r.Context(), a)
	if err != nil {
		return err
	}
	now := s.now()
	d := ownTokensData{Created: created, CanMint: c.tok.Owner == ""}
	for _, t := range ts {
		d.Tokens = append(d.Tokens, ownTokenRow{toOwnTokenResponse(t, a.Role), t.RevokedAt.IsZero() && now.Before(t.ExpiresAt)})
	}
	most := s.app.PersonalTokenMaxLifetime()
	for _, l := range ownTokenLifetimes {
		if l.d <= most {
			d.Lifetimes = append(d.Lifetimes, lifetimeChoice{Value: l.value, Label: l.label, Selected: l.d == app.DefaultPersonalTokenLifetime})
		}
	}
	if len(d.Lifetimes) == 0 { // a maximum under a day
		d.Lifetimes = append(d.Lifetimes, lifetimeChoice{Value: most.String(), Label: most.String(), Selected: true})
	}
	p := c.page("Your API tokens", "tokens", d)
	p.Notice = notice
	return web.Render(w, status, "tokens", p)
}

// mintOwnTokenForm mints a token and shows its secret on the page, once.
func (s *Server) mintOwnTokenForm(w http.ResponseWriter, r *http.Request, c *consoleCtx) error {
	f := r.PostForm
	req := app.OwnTokenRequest{Name: strings.TrimSpace(f.Get("name"))}
	lifetime, err := duration.Parse(f.Get("lifetime"))
	if err != nil {
		return fmt.Errorf("%w: lifetime: %v", auth.ErrInvalid, err)
	}
	req.Lifetime = lifetime
	resp, err := s.mintOwn(r, req)
	if err != nil {
		return err
	}
	return s.renderOwnTokens(w, r, c, http.StatusCreated, "", resp)
}

func (s *Server) revokeOwnTokenForm(w http.ResponseWriter, r *http.Request, c *consoleCtx) error {
	t, err := s.app.RevokeOwnToken(r.Context(), s.actor(r), mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	info(r).outcome = "revoked"
	return s.renderOwnTokens(w, r, c, http.StatusOK, "Revoked your token "+app.OwnTokenLabel(t)+".", nil)
}
