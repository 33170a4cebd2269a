package server

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
)

// appendDenial writes the row of a public request that minted nothing:
// a denial (unknown, revoked, expired or rate-limited code, …) or a page
// instead of a URL (HEAD, preview, confirmation page). Whoever holds a code,
// even a dead one, can cause these at will, so all of them count against
// the client's flood budget: past it they are counted in metrics and
// folded into periodic summary rows (audit.Flood), so that a flood cannot
// grow the log without bound. ev.ClientIP is the raw address here; the log
// applies the privacy mode.
func (s *Server) appendDenial(ctx context.Context, ev audit.Event) error {
	if !s.flood.AdmitOutcome(audit.FloodKey(ev.ClientIP), ev.Outcome, ev.Reason) {
		s.metrics.AuditSummarised.WithLabelValues(ev.Reason).Inc()
		return nil
	}
	_, err := s.audit.Append(ctx, ev, nil)
	return err
}

// auditQueryKeys are the query parameters the audit routes accept; anything
// else is refused, so that a typo does not silently widen a filter.
var auditQueryKeys = map[string]bool{
	"link_id": true, "actor": true, "action": true, "outcome": true, "reason": true, "client_ip": true,
	"request_id": true, "since": true, "until": true, "bucket": true, "key_prefix": true, "recipient": true,
}

// auditFilter reads the filters of GET /api/v1/audit and its export from the
// query string. extra names further parameters the route accepts.
func (s *Server) auditFilter(r *http.Request, extra ...string) (audit.Filter, error) {
	q := r.URL.Query()
	for k, vs := range q {
		known := auditQueryKeys[k]
		for _, e := range extra {
			known = known || k == e
		}
		if !known {
			return audit.Filter{}, fmt.Errorf("%w: unknown query parameter %q", audit.ErrInvalidFilter, k)
		}
		if len(vs) > 1 {
			return audit.Filter{}, fmt.Errorf("%w: query parameter %q given more than once", audit.ErrInvalidFilter, k)
		}
	}
	f := audit.Filter{
		LinkID: q.Get("link_id"), Actor: q.Get("actor"), Action: q.Get("action"),
		Outcome: q.Get("outcome"), Reason: q.Get("reason"), RequestID: q.Get("request_id"),
		Bucket: q.Get("bucket"), KeyPrefix: q.Get("key_prefix"), Recipient: q.Get("recipient"),
	}
	if ip := q.Get("client_ip"); ip != "" {
		// Match what the log stored: the same privacy mode, unless the
		// value already is a stored form (a keyed hash).
		if strings.HasPrefix(ip, "hmac:") {
			f.ClientIP = ip
		} else {
			f.ClientIP = s.audit.ClientIP(ip)
		}
	}
	var err error
	if f.Since, err = audit.ParseTimeAt("since", q.Get("since"), s.now()); err != nil {
		return f, err
	}
	if f.Until, err = audit.ParseTimeAt("until", q.Get("until"), s.now()); err != nil {
		return f, err
	}
	return f, f.Validate()
}

// auditPage is the answer of GET /api/v1/audit.
type auditPage struct {
	Events     []audit.Event `json:"events"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

// listAudit answers GET /api/v1/audit: events matching the filters, newest
// first; next_cursor, when present, is passed back as cursor for the next
// page.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	f, err := s.auditFilter(r, "limit", "cursor")
	if err != nil {
		return err
	}
	f.Limit = 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > audit.MaxListLimit {
			return fmt.Errorf("%w: limit must be a number from 1 to %d", audit.ErrInvalidFilter, audit.MaxListLimit)
		}
		f.Limit = n
	}
	if f.Before, err = auditCursor(r); err != nil {
		return err
	}
	if s.auditDB == nil {
		return errNoAuditDB
	}
	evs, err := audit.List(r.Context(), s.auditDB, f)
	if err != nil {
		return err
	}
	page := auditPage{Events: evs, NextCursor: nextAuditCursor(evs, f.Limit)}
	if page.Events == nil {
		page.Events = []audit.Event{}
	}
	return writeJSON(w, http.StatusOK, page)
}

// auditCursor reads the cursor of an audit listing: 0 for the newest
// page, else a next_cursor this server gave out.
func auditCursor(r *http.Request) (int64, error) {
	v := r.URL.Query().Get("cursor")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%w: cursor %q is not one this server gave out", audit.ErrInvalidFilter, v)
	}
	return n, nil
}

// nextAuditCursor is the cursor of the page after evs, a page of at most
// limit events, or "" when evs is the last page.
func nextAuditCursor(evs []audit.Event, limit int) string {
	if len(evs) == limit && evs[len(evs)-1].Seq > 1 {
		return strconv.FormatInt(evs[len(evs)-1].Seq, 10)
	}
	return ""
}

// exportAudit answers GET /api/v1/audit/export?format=csv|jsonl: every event
// matching the filters, oldest first, streamed as it is read.
func (s *Server) exportAudit(w http.ResponseWriter, r *http.Request) error {
	f, err := s.auditFilter(r, "format")
	if err != nil {
		return err
	}
	format, err := audit.ParseFormat(r.URL.Query().Get("format"))
	if err != nil {
		return err
	}
	if s.auditDB == nil {
		return errNoAuditDB
	}
	// A large export outlives the server's write timeout; instead each
	// chunk must be taken by the client within exportWriteTimeout, so that a
	// client that stops reading is cut off. audit.Export holds no database
	// connection while it writes.
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", format.ContentType())
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="sharesvc-audit-%s.%s"`,
		s.now().UTC().Format("20060102T150405Z"), format))
	n, err := audit.Export(r.Context(), s.auditDB, f, format, deadlineWriter{w, rc})
	info(r).outcome = "exported"
	if err != nil {
		return fmt.Errorf("audit export after %d rows: %w", n, err)
	}
	return nil
}

// exportWriteTimeout is how long a client of an export may take to accept
// each chunk written to it (at most 64 KiB, audit.Export's buffer).
const exportWriteTimeout = 30 * time.Second

// deadlineWriter moves the connection's write deadline forward before each
// write, so that a long response lives as long as its client keeps reading.
type deadlineWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (d deadlineWriter) Write(p []byte) (int, error) {
	_ = d.rc.SetWriteDeadline(time.Now().Add(exportWriteTimeout))
	return d.w.Write(p)
}

// verifyResponse is the answer of GET /api/v1/audit/verify.
type verifyResponse struct {
	OK            bool                `json:"ok"`
	Error         string              `json:"error,omitempty"`
	Rows          int64               `json:"rows"`
	FirstSeq      int64               `json:"first_seq"`
	LastSeq       int64               `json:"last_seq"`
	Head          string              `json:"head,omitempty"`
	BadSeq        int64               `json:"bad_seq,omitempty"`
	PrunedThrough int64               `json:"pruned_through,omitempty"`
	Checkpoint    *checkpointResponse `json:"checkpoint,omitempty"`
	// Checkpoints is how many signed checkpoints were compared with the
	// log; Rehashed how many rows this call hashed (only those added since
	// the last verification, once one has passed).
	Checkpoints int   `json:"checkpoints"`
	Rehashed    int64 `json:"rehashed"`
}

type checkpointResponse struct {
	Seq       int64     `json:"seq"`
	Head      string    `json:"head"`
	At        time.Time `json:"at"`
	PublicKey string    `json:"public_key"`
	Matched   *bool     `json:"matched,omitempty"`
}

func toCheckpointResponse(c audit.Checkpoint) *checkpointResponse {
	return &checkpointResponse{Seq: c.Seq, Head: hex.EncodeToString(c.Head), At: c.At,
		PublicKey: hex.EncodeToString(c.PublicKey)}
}

// verifyAudit answers GET /api/v1/audit/verify: the chain checked now,
// against every checkpoint when checkpoints are configured. A chain that
// does not verify is a 200 with ok false and the first bad row.
func (s *Server) verifyAudit(w http.ResponseWriter, r *http.Request) error {
	if len(r.URL.Query()) > 0 {
		return fmt.Errorf("%w: verify takes no parameters", audit.ErrInvalidFilter)
	}
	out, err := s.verifyChain(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

// verifyChain checks the chain now, for the API and the console alike:
// against every checkpoint the checkpointer holds when there is one (which
// also marks the service not ready if the log contradicts them). Only rows
// added since the last successful verification are hashed again.
func (s *Server) verifyChain(r *http.Request) (verifyResponse, error) {
	if s.auditDB == nil {
		return verifyResponse{}, errNoAuditDB
	}
	select {
	case s.longReads <- struct{}{}:
		defer func() { <-s.longReads }()
	case <-r.Context().Done():
		return verifyResponse{}, r.Context().Err()
	}
	var (
		res    audit.VerifyResult
		latest *audit.Checkpoint
		err    error
	)
	if s.checkpointer != nil {
		res, latest, err = s.checkpointer.Verify(r.Context())
	} else {
		res, err = s.verifier.Verify(r.Context(), audit.VerifyOptions{})
	}
	if err != nil && !errors.Is(err, audit.ErrTampered) && !errors.Is(err, audit.ErrBadSignature) {
		return verifyResponse{}, err
	}
	out := verifyResponse{OK: err == nil, Rows: res.Rows, FirstSeq: res.FirstSeq, LastSeq: res.LastSeq,
		Head: hex.EncodeToString(res.Head), BadSeq: res.BadSeq, PrunedThrough: res.PrunedThrough,
		Checkpoints: res.Checkpoints, Rehashed: res.Rehashed}
	if err != nil {
		out.Error = err.Error()
		info(r).outcome = "tampered"
	}
	if latest != nil {
		out.Checkpoint = toCheckpointResponse(*latest)
		m := res.CheckpointMatched
		out.Checkpoint.Matched = &m
	}
	return out, nil
}

// checkpointAudit answers POST /api/v1/audit/checkpoint: sign and store a
// checkpoint of the current head now, and audit that it was asked for. A log
// that contradicts the latest checkpoint is not signed (409).
func (s *Server) checkpointAudit(w http.ResponseWriter, r *http.Request) error {
	if s.checkpointer == nil {
		return audit.ErrNotConfigured
	}
	c, err := s.checkpointer.Write(r.Context())
	if err != nil {
		return err
	}
	detail, _ := json.Marshal(map[string]any{"seq": c.Seq, "head": hex.EncodeToString(c.Head)})
	if _, err := s.audit.Append(r.Context(), s.apiEvent(r, audit.ActionCheckpoint, string(detail)), nil); err != nil {
		return err
	}
	info(r).outcome = "checkpointed"
	return writeJSON(w, http.StatusCreated, toCheckpointResponse(c))
}

// errNoAuditDB means the server was built without Deps.AuditDB.
var errNoAuditDB = errors.New("server: no audit database configured")
