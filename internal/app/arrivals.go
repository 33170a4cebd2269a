package app

import (
	"context"
	"fmt"

	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/links"
	"github.com/sharesvc/sharesvc/internal/mail"
)

// maxArrivals bounds the uploads one listing returns.
const maxArrivals = 1000

// Arrivals returns upload link id and what arrived through it, newest
// first. Only its creator and admins may read them. Errors:
// links.ErrNotFound, auth.ErrForbidden (another sharer's link, or an
// auditor: arrivals carry uploaders' addresses and file names).
func (a *App) Arrivals(ctx context.Context, actor Actor, id string) (*links.Link, []*links.Arrival, error) {
	l, err := a.inboxLink(ctx, actor, id)
	if err != nil {
		return nil, nil, err
	}
	as, err := a.links.Arrivals(ctx, l.ID, maxArrivals)
	return l, as, err
}

// Arrival returns one upload that arrived through link id, to its creator
// or an admin. Errors: those of Arrivals, links.ErrNoArrival.
func (a *App) Arrival(ctx context.Context, actor Actor, id, arrivalID string) (*links.Link, *links.Arrival, error) {
	l, err := a.inboxLink(ctx, actor, id)
	if err != nil {
		return nil, nil, err
	}
	ar, err := a.links.Arrival(ctx, l.ID, arrivalID)
	return l, ar, err
}

func (a *App) inboxLink(ctx context.Context, actor Actor, id string) (*links.Link, error) {
	if err := allow(actor, "reading a link's uploads", auth.RoleAdmin, auth.RoleSharer); err != nil {
		return nil, err
	}
	l, err := a.Link(ctx, actor, id)
	if err != nil {
		return nil, err
	}
	if l.Kind != links.KindUpload {
		return nil, fmt.Errorf("%w: link %s is a download link; only upload links have arrivals", links.ErrNotFound, id)
	}
	return l, nil
}

// arrivalNotice applies notify_arrivals to upload link l: Notify is the
// address mailed about each arrival. Errors: links.ErrInvalid.
func (a *App) arrivalNotice(l *links.Link, req *CreateLink, share bool) error {
	switch {
	case l.Kind != links.KindUpload || share:
		return fmt.Errorf("%w: notify_arrivals is for upload links", links.ErrInvalid)
	case a.mail == nil:
		return fmt.Errorf("%w: notify_arrivals: this server does not send mail (SHARESVC_SMTP_HOST is not set)", links.ErrInvalid)
	case req.Notify == "":
		return fmt.Errorf("%w: notify_arrivals needs notify (the address to tell)", links.ErrInvalid)
	case req.NotifyMode != "" && req.NotifyMode != links.NotifyArrivals:
		return fmt.Errorf("%w: notify_mode %q does not apply to arrivals", links.ErrInvalid, req.NotifyMode)
	}
	addr, err := mail.NormalizeAddress(req.Notify)
	if err != nil {
		return fmt.Errorf("%w: notify: %w", links.ErrInvalid, err)
	}
	l.Notify, l.NotifyMode = addr, links.NotifyArrivals
	return nil
}
