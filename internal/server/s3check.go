package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/sts"
)

// errS3 means S3 could not be asked; the object's state is unknown.
var errS3 = errors.New("object storage unreachable")

// checkObject asks S3, with a HEAD presigned by the signer's own session,
// whether the object exists and the role may read it. Errors:
// links.ErrInvalid (missing or unreadable, said which), sts.ErrUnavailable,
// errS3.
func (s *Server) checkObject(ctx context.Context, bucket, key string) error {
	g, err := s.signer.Grant(ctx, 30*time.Second)
	if err != nil {
		return err
	}
	u, err := s.signer.Presign(g, sts.Request{Method: http.MethodHead, Bucket: bucket, Key: key})
	if err != nil {
		return fmt.Errorf("%w: %v", links.ErrInvalid, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
	if err != nil {
		return err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		// The URL is a secret; the error from the client quotes it.
		return fmt.Errorf("%w: HEAD %s/%s failed", errS3, bucket, key)
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
		return nil
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%w: object %q does not exist in bucket %q", links.ErrInvalid, key, bucket)
	case resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%w: object %q in bucket %q cannot be read with the signing role (missing, or access denied)", links.ErrInvalid, key, bucket)
	default:
		return fmt.Errorf("%w: HEAD %s/%s answered %d", errS3, bucket, key, resp.StatusCode)
	}
}
