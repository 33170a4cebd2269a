package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/people"
)

// PersonResponse is a person who signs in through the identity provider,
// as the API shows them.
type PersonResponse struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Email       string     `json:"email"`
	DisplayName string     `json:"display_name"`
	Groups      []string   `json:"groups"`
	Role        string     `json:"role"`                    // what they may do now
	GroupRole   string     `json:"group_role"`              // what their groups give
	Override    string     `json:"role_override,omitempty"` // what an admin set; absent: the groups decide
	CreatedAt   time.Time  `json:"created_at"`
	SeenAt      time.Time  `json:"seen_at"`
	DisabledAt  *time.Time `json:"disabled_at,omitempty"`
}

// ToPersonResponse returns p as the API shows it.
func ToPersonResponse(p *people.Person) PersonResponse {
	groups := p.Groups
	if groups == nil {
		groups = []string{}
	}
	return PersonResponse{ID: p.ID, Name: p.Name, Email: p.Email, DisplayName: p.DisplayName, Groups: groups,
		Role: string(p.Role()), GroupRole: string(p.GroupRole), Override: string(p.Override),
		CreatedAt: p.CreatedAt, SeenAt: p.SeenAt, DisabledAt: optTime(p.DisabledAt)}
}

func (s *Server) listPeople(w http.ResponseWriter, r *http.Request) error {
	ps, err := s.app.People(r.Context(), s.actor(r))
	if err != nil {
		return err
	}
	out := make([]PersonResponse, 0, len(ps))
	for _, p := range ps {
		out = append(out, ToPersonResponse(p))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"people": out})
}

// setPersonRole takes {"role":"admin"} to override a person's role and
// {"role":null} to let their groups decide again.
func (s *Server) setPersonRole(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Role json.RawMessage `json:"role"`
	}
	if err := decodeJSON(w, r, &body, false); err != nil {
		return err
	}
	var role string
	switch {
	case len(body.Role) == 0:
		return fmt.Errorf("%w: role is required: admin, sharer or auditor, or null to follow the person's groups", people.ErrInvalid)
	case string(body.Role) != "null":
		if err := json.Unmarshal(body.Role, &role); err != nil || role == "" {
			return fmt.Errorf("%w: role must be admin, sharer or auditor, or null to follow the person's groups", people.ErrInvalid)
		}
	}
	p, err := s.app.SetPersonRole(r.Context(), s.actor(r), mux.Vars(r)["id"], auth.Role(role))
	if err != nil {
		return err
	}
	info(r).outcome = "updated"
	return writeJSON(w, http.StatusOK, ToPersonResponse(p))
}

func (s *Server) enablePerson(w http.ResponseWriter, r *http.Request) error {
	p, err := s.app.EnablePerson(r.Context(), s.actor(r), mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	info(r).outcome = "enabled"
	return writeJSON(w, http.StatusOK, ToPersonResponse(p))
}
