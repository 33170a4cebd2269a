package server

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/mail"
	"github.com/sharesvc/sharesvc/internal/web"
)

// The upload page: GET /u/{code} shows a file picker; its script asks
// POST /u/{code}/presign for a presigned PUT sized and typed for the chosen
// file (the same checks, use counting and audit as PUT /u/{code}, answered
// as JSON instead of a 307), then sends the file straight to the object
// store with a progress bar. The bucket must allow CORS PUTs from this
// service's origin (see the README).

// uploadCSP is the console's policy, widened so that the script may PUT to
// the object store.
func (s *Server) uploadCSP() string {
	return strings.Replace(consoleCSP, "connect-src 'self'", "connect-src "+s.storeTargets(), 1)
}

type uploadPageData struct {
	Sharer, ExpiresIn, ContentType string
	Note                           string // the sharer's note to the uploader
	MaxBytes                       int64
	MaxSize                        string // MaxBytes for people ("10 MB"); "" when MaxBytes is 0
	OneName                        bool   // an upload to one name: curl must send If-None-Match: *
}

// uploadPage answers GET /u/{code}: for a live upload link, the page (it
// mints and spends nothing; audited nothing_minted/upload_page); anything
// else gets what PUT would get (404, 410, 503), as a page to browsers.
func (s *Server) uploadPage(w http.ResponseWriter, r *http.Request) error {
	l, ev, now, err := s.openLink(w, r, links.KindUpload, false)
	if err != nil {
		return err
	}
	if err := s.nothingMinted(r, ev, "upload_page"); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Security-Policy", s.uploadCSP())
	h.Set("X-Frame-Options", "DENY")
	d := uploadPageData{Sharer: s.sharerName(r.Context(), l), ExpiresIn: mail.Humanize(l.ExpiresAt.Sub(now)), ContentType: l.ContentType, OneName: !l.KeyIsPrefix}
	if l.MaxBytes < s.cfg.MaxUploadBytes {
		d.MaxBytes, d.MaxSize = l.MaxBytes, humanBytes(l.MaxBytes)
	}
	d.Note = l.Note
	return web.Render(w, http.StatusOK, "upload", &web.Page{Title: "Upload a file", Data: d})
}

type presignRequest struct {
	Size        *int64 `json:"size"`
	ContentType string `json:"content_type"`
	Filename    string `json:"filename"` // the uploader's file name, kept with the arrival
}

type presignResponse struct {
	URL         string `json:"url"`
	Method      string `json:"method"`
	ContentType string `json:"content_type,omitempty"`
	// Headers the PUT must carry, exactly, besides Content-Type: If-None-Match: *
	// for a link to one name, which never replaces an object;
	// Content-Disposition and X-Amz-Meta-Filename for a named file, which
	// keep its name with the object. Each is signed.
	Headers map[string]string `json:"headers,omitempty"`
	// Upload names this upload for POST /u/{code}/done once the PUT
	// succeeded.
	Upload string `json:"upload"`
}

// presignUpload answers POST /u/{code}/presign {"size": N, "content_type":
// "…"} with {"url": presigned PUT}: exactly what PUT /u/{code} does, for a
// script that cannot follow a 307 with a large body.
func (s *Server) presignUpload(w http.ResponseWriter, r *http.Request) error {
	setShareHeaders(w.Header())
	if o := r.Header.Get("Origin"); o != "" && !s.sameOrigin(r) {
		return fmt.Errorf("%w: cross-origin request", auth.ErrForbidden)
	}
	var req presignRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	if req.Size == nil || *req.Size < 0 {
		return fmt.Errorf("%w: size (the file's length in bytes) is required", links.ErrInvalid)
	}
	if len(req.Filename) > 4*links.MaxFilenameBytes {
		return fmt.Errorf("%w: filename is longer than %d bytes", links.ErrInvalid, 4*links.MaxFilenameBytes)
	}
	loc, hdrs, upload, err := s.mintUpload(w, r, *req.Size, req.ContentType, true, req.Filename)
	if err != nil {
		return err
	}
	// A link that requires a type signed exactly req.ContentType (anything
	// else was refused); otherwise the type is not signed and the script
	// sends the file's own.
	return writeJSON(w, http.StatusOK, presignResponse{URL: loc, Method: http.MethodPut, ContentType: req.ContentType, Headers: hdrs, Upload: upload})
}

// humanBytes writes n bytes for people: "999 bytes", "1.5 kB", "10 MB"
// (powers of 1000, as file managers show sizes).
func humanBytes(n int64) string {
	if n < 1000 {
		return fmt.Sprintf("%d bytes", n)
	}
	v, units := float64(n), []string{"kB", "MB", "GB", "TB"}
	u := -1
	for v >= 1000 && u < len(units)-1 {
		v /= 1000
		u++
	}
	if v < 10 && v != float64(int64(v)) {
		return fmt.Sprintf("%.1f %s", v, units[u])
	}
	return fmt.Sprintf("%.0f %s", v, units[u])
}
