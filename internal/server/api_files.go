package server

import (
	"net/http"
	"time"

	"github.com/sharesvc/sharesvc/internal/app"
)

// startFileRequest is the body of POST /api/v1/files: a file on the
// sharer's computer to upload, then share with POST /api/v1/links.
type startFileRequest struct {
	Filename    string `json:"filename"`
	Size        int64  `json:"size"` // bytes
	ContentType string `json:"content_type"`
	Bucket      string `json:"bucket"`
	KeyPrefix   string `json:"key_prefix"` // inside one's grant; default its prefix
}

// FileUploadResponse says where to send a file's bytes: one PUT of URL
// with Headers, before ExpiresAt.
type FileUploadResponse struct {
	Bucket    string            `json:"bucket"`
	Key       string            `json:"key"`
	Size      int64             `json:"size"`
	GrantID   string            `json:"grant_id,omitempty"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	ExpiresAt time.Time         `json:"expires_at"`
}

// completeFileRequest is the body of POST /api/v1/files/complete.
type completeFileRequest struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	Size   int64  `json:"size"`
}

// startFile answers POST /api/v1/files.
func (s *Server) startFile(w http.ResponseWriter, r *http.Request) error {
	var req startFileRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	fu, err := s.app.StartFileUpload(r.Context(), s.actor(r), &app.StartUpload{
		Filename: req.Filename, Size: req.Size, ContentType: req.ContentType, Bucket: req.Bucket, KeyPrefix: req.KeyPrefix})
	if err != nil {
		return err
	}
	info(r).outcome = "created"
	return writeJSON(w, http.StatusCreated, FileUploadResponse{Bucket: fu.Bucket, Key: fu.Key, Size: fu.Size, GrantID: fu.GrantID,
		Method: fu.Method, URL: fu.URL, Headers: fu.Headers, ExpiresAt: fu.ExpiresAt})
}

// completeFile answers POST /api/v1/files/complete.
func (s *Server) completeFile(w http.ResponseWriter, r *http.Request) error {
	var req completeFileRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	if err := s.app.CompleteFileUpload(r.Context(), s.actor(r), &app.CompleteUpload{Bucket: req.Bucket, Key: req.Key, Size: req.Size}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"bucket": req.Bucket, "key": req.Key, "size": req.Size, "complete": true})
}
