package server

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/web"
)

// peoplePage lists the people who sign in through the identity provider:
// admins may override a role or enable someone offboarded; auditors read.
func (s *Server) peoplePage(w http.ResponseWriter, r *http.Request, c *consoleCtx) error {
	return s.renderPeople(w, r, c, http.StatusOK, "")
}

func (s *Server) renderPeople(w http.ResponseWriter, r *http.Request, c *consoleCtx, status int, notice string) error {
	ps, err := s.app.People(r.Context(), s.actor(r))
	if err != nil {
		return err
	}
	d := struct {
		People []PersonResponse
		Me     string
	}{Me: c.tok.Person()}
	for _, p := range ps {
		d.People = append(d.People, ToPersonResponse(p))
	}
	p := c.page("People", "people", d)
	p.Notice = notice
	return web.Render(w, status, "people", p)
}

// setPersonRoleForm sets or clears ("" follows the groups) a person's
// role override.
func (s *Server) setPersonRoleForm(w http.ResponseWriter, r *http.Request, c *consoleCtx) error {
	p, err := s.app.SetPersonRole(r.Context(), s.actor(r), mux.Vars(r)["id"], auth.Role(r.PostForm.Get("role")))
	if err != nil {
		return err
	}
	info(r).outcome = "updated"
	notice := p.Name + " now follows their groups: " + string(p.Role()) + "."
	if p.Override != "" {
		notice = p.Name + " is now " + string(p.Role()) + " by override."
	}
	return s.renderPeople(w, r, c, http.StatusOK, notice)
}

func (s *Server) enablePersonForm(w http.ResponseWriter, r *http.Request, c *consoleCtx) error {
	p, err := s.app.EnablePerson(r.Context(), s.actor(r), mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	info(r).outcome = "enabled"
	return s.renderPeople(w, r, c, http.StatusOK, p.Name+" may sign in again; their links and tokens stay revoked.")
}
