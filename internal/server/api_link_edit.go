package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/sharesvc/sharesvc/internal/app"
)

// editLinkRequest is the body of PATCH /api/v1/links/{id}, a JSON merge
// patch (RFC 7396): a member left out leaves that setting as it is,
// "max_uses": null removes the use cap and "note": null clears the note.
// expires_in takes the forms of creation (seconds, or "3d", "1w"…).
type editLinkRequest struct {
	ExpiresIn patchValue `json:"expires_in"`
	ExpiresAt patchValue `json:"expires_at"`
	MaxUses   patchValue `json:"max_uses"`
	Note      patchValue `json:"note"`
}

// patchValue is one member of a merge patch: whether it was sent, and its
// JSON text (which may be null).
type patchValue struct {
	set bool
	raw json.RawMessage
}

// UnmarshalJSON keeps the member's text, null included.
func (p *patchValue) UnmarshalJSON(b []byte) error {
	p.set, p.raw = true, append(json.RawMessage(nil), b...)
	return nil
}

func (p *patchValue) null() bool { return p.set && string(p.raw) == "null" }

// into decodes the member into v, naming field and what it must be.
func (p *patchValue) into(field, want string, v any) error {
	if err := json.Unmarshal(p.raw, v); err != nil {
		return fmt.Errorf("%w: field %q must be %s", errBadJSON, field, want)
	}
	return nil
}

// toApp is the change req asks for, as the application layer takes it.
func (req *editLinkRequest) toApp() (*app.EditLink, error) {
	var e app.EditLink
	if req.ExpiresIn.set {
		if req.ExpiresIn.null() {
			return nil, fmt.Errorf("%w: field \"expires_in\" cannot be null: a link always expires", errBadJSON)
		}
		var j jsonSeconds
		if err := req.ExpiresIn.into("expires_in", "a number of seconds or a duration such as \"3d\"", &j); err != nil {
			return nil, err
		}
		n, err := j.seconds("expires_in")
		if err != nil {
			return nil, err
		}
		e.ExpiresIn = n
	}
	if req.ExpiresAt.set {
		if req.ExpiresAt.null() {
			return nil, fmt.Errorf("%w: field \"expires_at\" cannot be null: a link always expires", errBadJSON)
		}
		var t time.Time
		if err := req.ExpiresAt.into("expires_at", "an RFC 3339 time", &t); err != nil {
			return nil, err
		}
		e.ExpiresAt = &t
	}
	if req.MaxUses.null() {
		e.NoMaxUses = true
	} else if req.MaxUses.set {
		var n int64
		if err := req.MaxUses.into("max_uses", "a whole number or null", &n); err != nil {
			return nil, err
		}
		e.MaxUses = &n
	}
	if req.Note.set {
		note := ""
		if !req.Note.null() {
			if err := req.Note.into("note", "a string or null", &note); err != nil {
				return nil, err
			}
		}
		e.Note = &note
	}
	return &e, nil
}

// editLink changes a link's expiry, use cap or note (app.EditLink).
func (s *Server) editLink(w http.ResponseWriter, r *http.Request) error {
	var req editLinkRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	e, err := req.toApp()
	if err != nil {
		return err
	}
	l, err := s.app.EditLink(r.Context(), s.actor(r), mux.Vars(r)["id"], e)
	if err != nil {
		return err
	}
	info(r).outcome = "updated"
	return writeJSON(w, http.StatusOK, toLinkResponse(l, s.now().UTC()))
}
