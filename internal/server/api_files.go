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
	PartSize    int64  `json:"part_size"`  // > 0: a multipart upload in parts of this many bytes
}

// FileUploadResponse says where to send a file's bytes before ExpiresAt:
// one PUT of URL with Headers, or, with UploadID, one PUT per part.
type FileUploadResponse struct {
	Bucket    string            `json:"bucket"`
	Key       string            `json:"key"`
	Size      int64             `json:"size"`
	GrantID   string            `json:"grant_id,omitempty"`
	Method    string            `json:"method"`
	URL       string            `json:"url,omitempty"`
	Headers   map[string]string `json:"headers,omitempty"`
	ExpiresAt time.Time         `json:"expires_at"`
	UploadID  string            `json:"upload_id,omitempty"`
	PartSize  int64             `json:"part_size,omitempty"`
	Parts     []FilePartURL     `json:"parts,omitempty"`
}

// FilePartURL is one part of a multipart upload: bytes
// [(number-1)*part_size, +size) of the file, sent by PUT to url.
type FilePartURL struct {
	Number int    `json:"number"`
	Size   int64  `json:"size"`
	URL    string `json:"url"`
}

// completeFileRequest is the body of POST /api/v1/files/complete.
type completeFileRequest struct {
	Bucket   string `json:"bucket"`
	Key      string `json:"key"`
	Size     int64  `json:"size"`
	UploadID string `json:"upload_id"` // multipart only
	PartSize int64  `json:"part_size"` // multipart only
	Parts    []struct {
		Number int    `json:"number"`
		ETag   string `json:"etag"`
	} `json:"parts"` // multipart only: every part, in order, with the ETag its PUT was answered with
}

// startFile answers POST /api/v1/files.
func (s *Server) startFile(w http.ResponseWriter, r *http.Request) error {
	var req startFileRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	fu, err := s.app.StartFileUpload(r.Context(), s.actor(r), &app.StartUpload{
		Filename: req.Filename, Size: req.Size, ContentType: req.ContentType, Bucket: req.Bucket, KeyPrefix: req.KeyPrefix,
		PartSize: req.PartSize})
	if err != nil {
		return err
	}
	info(r).outcome = "created"
	return writeJSON(w, http.StatusCreated, toFileUploadResponse(fu))
}

func toFileUploadResponse(fu *app.FileUpload) FileUploadResponse {
	resp := FileUploadResponse{Bucket: fu.Bucket, Key: fu.Key, Size: fu.Size, GrantID: fu.GrantID,
		Method: fu.Method, URL: fu.URL, Headers: fu.Headers, ExpiresAt: fu.ExpiresAt, UploadID: fu.UploadID, PartSize: fu.PartSize}
	for _, p := range fu.Parts {
		resp.Parts = append(resp.Parts, FilePartURL{Number: p.Number, Size: p.Size, URL: p.URL})
	}
	return resp
}

// completeFile answers POST /api/v1/files/complete.
func (s *Server) completeFile(w http.ResponseWriter, r *http.Request) error {
	var req completeFileRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	c := &app.CompleteUpload{Bucket: req.Bucket, Key: req.Key, Size: req.Size, UploadID: req.UploadID, PartSize: req.PartSize}
	for _, p := range req.Parts {
		c.Parts = append(c.Parts, app.CompletedPart{Number: p.Number, ETag: p.ETag})
	}
	if err := s.app.CompleteFileUpload(r.Context(), s.actor(r), c); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"bucket": req.Bucket, "key": req.Key, "size": req.Size, "complete": true})
}
