package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"time"

	"github.com/gorilla/mux"

	"github.com/sharesvc/sharesvc/internal/app"
	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/mail"
	"github.com/sharesvc/sharesvc/internal/sts"
)

// Upload links as an inbox. The presigned PUT goes straight to S3, which
// tells sharesvc nothing; so the upload page, once its PUT succeeded, calls
// POST /u/{code}/done {"upload": id} with the id the presign gave it, and
// sharesvc records the arrival only after a HEAD of the object (signed by
// the link's own grant session) finds it with the size announced. A forged
// call names an upload that was never signed (404) or one whose bytes are
// not there (409), and records nothing. Uploads sent with curl (PUT
// /u/{code}) stay pending: nothing calls back.

// errNotArrived means /done named an upload whose object is not (yet) in
// the store, or differs from what was signed.
var errNotArrived = errors.New("upload has not arrived")

type doneRequest struct {
	Upload string `json:"upload"`
}

// uploadDone answers POST /u/{code}/done. The link need not be live any
// more: the upload that spent its last use still arrives.
func (s *Server) uploadDone(w http.ResponseWriter, r *http.Request) error {
	info(r).public = true
	setShareHeaders(w.Header())
	if o := r.Header.Get("Origin"); o != "" && !s.sameOrigin(r) {
		return fmt.Errorf("%w: cross-origin request", auth.ErrForbidden)
	}
	var req doneRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	l, err := s.links.ByCode(r.Context(), mux.Vars(r)["code"])
	if errors.Is(err, links.ErrNotFound) {
		if lerr := s.chargeMiss(r); lerr != nil {
			return s.limitedPublic(w, r, "", lerr)
		}
		return err
	}
	if err != nil {
		return err
	}
	if l.Kind != links.KindUpload {
		return links.ErrNotFound
	}
	a, err := s.links.Upload(r.Context(), l.ID, req.Upload)
	if err != nil {
		return err
	}
	if a.State == links.ArrivalArrived {
		return writeJSON(w, http.StatusOK, toArrivalResponse(a))
	}
	size, err := s.headObject(r.Context(), l, a.Key)
	if err != nil {
		return err
	}
	if size != a.Bytes {
		return fmt.Errorf("%w: the object has %d bytes, %d were announced", errNotArrived, size, a.Bytes)
	}
	now := s.now().UTC()
	ev := accessEvent(r)
	ev.LinkID, ev.Outcome, ev.Reason = l.ID, audit.OutcomeNothingMinted, "upload_arrived"
	detail, _ := json.Marshal(map[string]any{"key": a.Key, "bytes": a.Bytes, "upload": a.ID})
	ev.Detail = string(detail)
	queued := false
	_, err = s.audit.Append(r.Context(), ev, func(ctx context.Context, tx *sql.Tx, _ *audit.Event) error {
		changed, err := links.MarkArrived(ctx, tx, a.ID, now)
		if err != nil || !changed || l.NotifyMode != links.NotifyArrivals || l.Notify == "" || s.mail == nil {
			return err
		}
		name := a.Filename
		if name == "" {
			name = a.Key
		}
		queued = true
		return s.mail.QueueNotify(ctx, tx, mail.NotifyMessage{LinkID: l.ID, To: l.Notify, Mode: mail.ModeArrival,
			Sharer: l.CreatedBy, Filename: name, Recipient: a.ClientIP, At: now, Bytes: a.Bytes})
	})
	if err != nil {
		return err
	}
	if queued {
		s.mail.Kick()
	}
	info(r).outcome = "upload_arrived"
	a.State, a.ArrivedAt = links.ArrivalArrived, now
	return writeJSON(w, http.StatusOK, toArrivalResponse(a))
}

// inboxGrant is a session that may read and write l's grant's prefix (the
// link's own session may only PUT), or the role's own for a link made
// without a grant.
func (s *Server) inboxGrant(ctx context.Context, l *links.Link, want time.Duration) (sts.Grant, error) {
	if sc, ok := LinkScope(l); ok && s.scoped != nil {
		sc.Actions |= sts.Download
		return s.scoped.Grant(ctx, sc, l.GrantID, want)
	}
	return s.signer.Grant(ctx, want)
}

// headObject returns the size of object key of upload link l. Errors:
// errNotArrived (no such object), app.ErrS3.
func (s *Server) headObject(ctx context.Context, l *links.Link, key string) (int64, error) {
	g, err := s.inboxGrant(ctx, l, 30*time.Second)
	if err != nil {
		return 0, err
	}
	u, err := s.presign(g, sts.Request{Method: http.MethodHead, Bucket: l.Bucket, Key: key})
	if err != nil {
		return 0, err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := s.client.Do(hreq)
	if err != nil {
		// The client's error quotes the URL, a secret.
		return 0, fmt.Errorf("%w: HEAD %s/%s failed", app.ErrS3, l.Bucket, key)
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return resp.ContentLength, nil
	case http.StatusNotFound, http.StatusForbidden:
		return 0, fmt.Errorf("%w: no object at the signed key", errNotArrived)
	default:
		return 0, fmt.Errorf("%w: HEAD %s/%s answered %d", app.ErrS3, l.Bucket, key, resp.StatusCode)
	}
}

// ArrivalResponse is an upload that arrived through an upload link.
type ArrivalResponse struct {
	ID        string    `json:"id"`
	Key       string    `json:"key"`
	Filename  string    `json:"filename"` // the uploader's file name; "" unknown
	Bytes     int64     `json:"bytes"`
	ClientIP  string    `json:"client_ip"` // under the audit log's privacy mode
	State     string    `json:"state"`
	CreatedAt time.Time `json:"created_at"`
	ArrivedAt time.Time `json:"arrived_at,omitzero"`
}

func toArrivalResponse(a *links.Arrival) ArrivalResponse {
	return ArrivalResponse{ID: a.ID, Key: a.Key, Filename: a.Filename, Bytes: a.Bytes, ClientIP: a.ClientIP,
		State: a.State, CreatedAt: a.CreatedAt, ArrivedAt: a.ArrivedAt}
}

// listArrivals answers GET /api/v1/links/{id}/arrivals: what arrived, for
// the link's creator or an admin.
func (s *Server) listArrivals(w http.ResponseWriter, r *http.Request) error {
	_, as, err := s.app.Arrivals(r.Context(), s.actor(r), mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	out := struct {
		Arrivals []ArrivalResponse `json:"arrivals"`
	}{Arrivals: []ArrivalResponse{}}
	for _, a := range as {
		out.Arrivals = append(out.Arrivals, toArrivalResponse(a))
	}
	return writeJSON(w, http.StatusOK, out)
}

// arrivalURL presigns a GET of arrival a of l, named as the uploader named
// it, with a session of l's grant.
func (s *Server) arrivalURL(ctx context.Context, l *links.Link, a *links.Arrival) (string, error) {
	g, err := s.inboxGrant(ctx, l, s.cfg.DefaultPresignTTL)
	if err != nil {
		return "", err
	}
	return s.presign(g, sts.Request{Method: http.MethodGet, Bucket: l.Bucket, Key: a.Key,
		ResponseContentDisposition: contentDisposition(a.Filename)})
}

// downloadArrival answers GET /api/v1/links/{id}/arrivals/{arrival}/download
// with a 302 to a presigned GET of the upload.
func (s *Server) downloadArrival(w http.ResponseWriter, r *http.Request) error {
	l, a, err := s.app.Arrival(r.Context(), s.actor(r), mux.Vars(r)["id"], mux.Vars(r)["arrival"])
	if err != nil {
		return err
	}
	u, err := s.arrivalURL(r.Context(), l, a)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Location", u)
	w.WriteHeader(http.StatusFound)
	return nil
}

// arrivalRow is an arrival as the console's link page lists it.
type arrivalRow struct {
	ArrivalResponse
	Size string // Bytes for people
	Name string // the uploader's name, else the key's last segment: the download name of "share onwards"
}

// arrivalRows lists the arrivals of l for its page, when l is an upload
// link and the reader its creator or an admin (ok false otherwise).
func (s *Server) arrivalRows(r *http.Request, l *links.Link) (rows []arrivalRow, ok bool, err error) {
	if l.Kind != links.KindUpload {
		return nil, false, nil
	}
	_, as, err := s.app.Arrivals(r.Context(), s.actor(r), l.ID)
	if errors.Is(err, auth.ErrForbidden) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	for _, a := range as {
		name := a.Filename
		if name == "" {
			name = path.Base(a.Key)
		}
		rows = append(rows, arrivalRow{toArrivalResponse(a), humanBytes(a.Bytes), name})
	}
	return rows, true, nil
}
