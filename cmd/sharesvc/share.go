package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/sharesvc/sharesvc/internal/server"
)

// shareCmd shares a file from this computer: upload under one's grant,
// then a link (or a share mailed to --to) on it.
type shareCmd struct {
	File       string        `arg:"" type:"existingfile" help:"The file to share."`
	To         []string      `name:"to" sep:"none" placeholder:"ADDR" help:"Mail a link of their own to this address (repeat for more; the codes go only by mail)."`
	Expires    time.Duration `name:"expires" help:"Link lifetime, e.g. 24h, 3d or 1w (default: the server's)."`
	MaxUses    int           `name:"max-uses" default:"0" help:"Use cap (0: none)."`
	Note       string        `name:"note" placeholder:"TEXT" help:"Note for the recipient."`
	Bucket     string        `name:"bucket" placeholder:"BUCKET" help:"Bucket (default: the server's)."`
	KeyPrefix  string        `name:"key-prefix" placeholder:"PREFIX" help:"Where under your grant to put the file (default: the grant's prefix)."`
	putRetries int           // attempts of each PUT; 0 means 4
	PartSize   int64         `name:"part-size" hidden:"" help:"Send the file in parts of this many bytes (at least 5 MiB; files over 64 MiB always go in parts)."`
	clientFlags
}

// Run uploads the file, confirms it, and creates the link.
func (c *shareCmd) Run(e *runEnv) error {
	ctx := e.ctx
	if c.MaxUses < 0 {
		return errors.New("share: --max-uses must be at least 1 (or 0 for no cap)")
	}
	if c.Expires < 0 {
		return errors.New("share: --expires must be positive")
	}
	cl := c.client()
	if err := cl.check(); err != nil {
		return fmt.Errorf("share: %w", err)
	}
	f, err := os.Open(c.File)
	if err != nil {
		return fmt.Errorf("share: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("share: %w", err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("share: %s is not a regular file", c.File)
	}
	name := filepath.Base(c.File)
	ctype := mime.TypeByExtension(filepath.Ext(name))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	req := map[string]any{"filename": name, "size": st.Size(), "content_type": ctype}
	if c.Bucket != "" {
		req["bucket"] = c.Bucket
	}
	if c.KeyPrefix != "" {
		req["key_prefix"] = c.KeyPrefix
	}
	if c.PartSize > 0 {
		req["part_size"] = c.PartSize
	}
	var up server.FileUploadResponse
	if err := cl.do(ctx, "POST", "/api/v1/files", req, &up); err != nil {
		return fmt.Errorf("share: %w", err)
	}
	fmt.Fprintf(e.stderr, "Uploading %s (%d bytes) to %s/%s…\n", name, st.Size(), up.Bucket, up.Key)
	complete := map[string]any{"bucket": up.Bucket, "key": up.Key, "size": st.Size()}
	if up.UploadID == "" {
		if _, err := c.put(ctx, up.URL, up.Headers, io.NewSectionReader(f, 0, st.Size()), false); err != nil {
			return fmt.Errorf("share: upload of %s: %w", name, err)
		}
	} else {
		parts := make([]map[string]any, 0, len(up.Parts))
		for _, p := range up.Parts {
			etag, err := c.put(ctx, p.URL, nil, io.NewSectionReader(f, int64(p.Number-1)*up.PartSize, p.Size), true)
			if err != nil {
				return fmt.Errorf("share: upload of %s, part %d of %d: %w", name, p.Number, len(up.Parts), err)
			}
			parts = append(parts, map[string]any{"number": p.Number, "etag": etag})
		}
		complete["upload_id"], complete["part_size"], complete["parts"] = up.UploadID, up.PartSize, parts
	}
	if err := cl.do(ctx, "POST", "/api/v1/files/complete", complete, nil); err != nil {
		return fmt.Errorf("share: %w", err)
	}
	link := map[string]any{"bucket": up.Bucket, "key": up.Key, "filename": name}
	if c.Note != "" {
		link["note"] = c.Note
	}
	if c.Expires > 0 {
		link["expires_in"] = int64(c.Expires / time.Second)
	}
	if c.MaxUses > 0 {
		link["max_uses"] = c.MaxUses
	}
	if len(c.To) > 0 {
		link["recipients"] = c.To
		return createShare(ctx, cl, link, c.JSON, e.stdout, e.stderr)
	}
	var l server.LinkResponse
	if err := cl.do(ctx, "POST", "/api/v1/links", link, &l); err != nil {
		return fmt.Errorf("share: the file is uploaded to %s/%s but the link was not made: %w", up.Bucket, up.Key, err)
	}
	if c.JSON {
		return printJSON(e.stdout, l)
	}
	fmt.Fprintln(e.stderr, "Shared", name, "as", l.ID, "expiring", fmtTime(&l.ExpiresAt)+". The short URL is shown once:")
	fmt.Fprintln(e.stdout, l.URL)
	return nil
}

// put sends body (the file, or one part of it) to the presigned URL u,
// again after a failure of the network or of S3 (5xx), and returns the
// ETag S3 answered with (required for a part). A 412 to a whole file after
// a failed attempt means an earlier attempt stored it (the PUT never
// replaces an object): the server's size check then decides.
func (c *shareCmd) put(ctx context.Context, u string, hdr map[string]string, body *io.SectionReader, part bool) (string, error) {
	attempts := c.putRetries
	if attempts <= 0 {
		attempts = 4
	}
	hc := &http.Client{} // no overall timeout: a large file takes what it takes
	var last error
	for i := 0; i < attempts; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(time.Duration(1<<(i-1)) * time.Second):
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, io.NewSectionReader(body, 0, body.Size()))
		if err != nil {
			return "", errors.New("bad upload URL from the server")
		}
		req.ContentLength = body.Size()
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := hc.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			// The error quotes the URL, a secret: keep only that it failed.
			last = errors.New("the connection to object storage failed")
			continue
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		switch {
		case resp.StatusCode/100 == 2 && part && resp.Header.Get("ETag") == "":
			return "", errors.New("object storage stored the part without an ETag")
		case resp.StatusCode/100 == 2:
			return resp.Header.Get("ETag"), nil
		case resp.StatusCode == http.StatusPreconditionFailed && i > 0 && !part:
			return "", nil
		case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
			last = fmt.Errorf("object storage answered %s", resp.Status)
		default:
			return "", fmt.Errorf("object storage answered %s", resp.Status)
		}
	}
	return "", fmt.Errorf("%w (after %d attempts)", last, attempts)
}
