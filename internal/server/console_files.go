package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/sharesvc/sharesvc/internal/app"
	"github.com/sharesvc/sharesvc/internal/links"
)

// The links page's file sharing (static/sharefile.js): the script asks for
// presigned PUTs with POST /ui/files, sends the file straight to the
// object store, confirms it with POST /ui/files/complete, then submits the
// page's own link form on the new key. Both answer JSON (errors as
// {title, detail}); the console's session, CSRF value and origin check
// guard them as they do every form.

// consoleJSONError answers err as JSON for the script, with the status the
// API would use, and returns it for logging when it is the server's fault.
func consoleJSONError(w http.ResponseWriter, r *http.Request, err error) error {
	p := toProblem(err)
	if p.Status >= 500 {
		return err
	}
	info(r).outcome = "refused"
	return writeJSON(w, p.Status, map[string]string{"title": p.Title, "detail": p.Detail})
}

func formInt(r *http.Request, name string) (int64, error) {
	v := strings.TrimSpace(r.PostForm.Get(name))
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s must be a whole number", links.ErrInvalid, name)
	}
	return n, nil
}

// consoleStartFile answers POST /ui/files.
func (s *Server) consoleStartFile(w http.ResponseWriter, r *http.Request, c *consoleCtx) error {
	f := r.PostForm
	req := &app.StartUpload{Filename: f.Get("filename"), ContentType: f.Get("content_type"), Bucket: strings.TrimSpace(f.Get("bucket"))}
	var err error
	if req.Size, err = formInt(r, "size"); err != nil {
		return consoleJSONError(w, r, err)
	}
	if req.PartSize, err = formInt(r, "part_size"); err != nil {
		return consoleJSONError(w, r, err)
	}
	fu, err := s.app.StartFileUpload(r.Context(), s.actor(r), req)
	if err != nil {
		return consoleJSONError(w, r, err)
	}
	return writeJSON(w, http.StatusCreated, toFileUploadResponse(fu))
}

// consoleCompleteFile answers POST /ui/files/complete; parts is the JSON
// list [{number, etag}] of a multipart upload.
func (s *Server) consoleCompleteFile(w http.ResponseWriter, r *http.Request, c *consoleCtx) error {
	f := r.PostForm
	req := &app.CompleteUpload{Bucket: strings.TrimSpace(f.Get("bucket")), Key: f.Get("key"), UploadID: f.Get("upload_id")}
	var err error
	if req.Size, err = formInt(r, "size"); err != nil {
		return consoleJSONError(w, r, err)
	}
	if req.PartSize, err = formInt(r, "part_size"); err != nil {
		return consoleJSONError(w, r, err)
	}
	if p := f.Get("parts"); p != "" {
		var parts []struct {
			Number int    `json:"number"`
			ETag   string `json:"etag"`
		}
		if err := json.Unmarshal([]byte(p), &parts); err != nil {
			return consoleJSONError(w, r, fmt.Errorf("%w: parts must be a JSON list of {number, etag}", links.ErrInvalid))
		}
		for _, x := range parts {
			req.Parts = append(req.Parts, app.CompletedPart{Number: x.Number, ETag: x.ETag})
		}
	}
	if err := s.app.CompleteFileUpload(r.Context(), s.actor(r), req); err != nil {
		return consoleJSONError(w, r, err)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"key": req.Key, "size": req.Size, "complete": true})
}
