package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/sharesvc/sharesvc/internal/audit"
	"github.com/sharesvc/sharesvc/internal/ratelimit"
)

// limiters are the server's rate limits, each keyed separately.
type limiters struct {
	ip    *ratelimit.Limiter // public requests, by client address (/64 for IPv6)
	miss  *ratelimit.Limiter // lookups of unknown codes, by client address
	link  *ratelimit.Limiter // mints, by link id
	token *ratelimit.Limiter // API calls, by token id
}

// Rate-limit scopes, as audited and counted.
const (
	scopeIP    = "ip"
	scopeMiss  = "miss"
	scopeLink  = "link"
	scopeToken = "token"
)

func newLimiters(cfg Config, clock func() time.Time) limiters {
	o := ratelimit.Options{Capacity: cfg.RateTableSize, Clock: clock}
	return limiters{
		ip:    ratelimit.New(cfg.RateIP, o),
		miss:  ratelimit.New(cfg.RateMiss, o),
		link:  ratelimit.New(cfg.RateLink, o),
		token: ratelimit.New(cfg.RateToken, o),
	}
}

// take charges one request to key in lim. Over the limit it counts the
// rejection and returns a *ratelimit.LimitedError with the exact wait.
func (s *Server) take(lim *ratelimit.Limiter, scope, key string) error {
	d := lim.Allow(key)
	if d.Allowed {
		return nil
	}
	s.metrics.RateLimited.WithLabelValues(scope).Inc()
	return &ratelimit.LimitedError{Scope: scope, RetryAfter: d.RetryAfter}
}

// public puts the per-address limits in front of a public route, before
// any lookup. A miss token is taken before the handler runs and given back
// unless the code turned out to be unknown: checking the miss bucket first
// means an address that has used up its misses cannot make one more lookup
// (not even of a real code) until it refills, so at most burst + rate·t
// unknown codes are ever looked up per address.
func (s *Server) public(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ri := info(r)
		ri.public = true
		key := ratelimit.IPKey(ri.ip)
		if err := s.take(s.limits.ip, scopeIP, key); err != nil {
			return s.limitedPublic(w, r, "", err)
		}
		if err := s.take(s.limits.miss, scopeMiss, key); err != nil {
			return s.limitedPublic(w, r, "", err)
		}
		err := h(w, r)
		if ri.outcome != "not_found" {
			s.limits.miss.Refund(key)
		}
		return err
	}
}

// limitMint applies the per-link limit just before a URL is minted for
// linkID, so that one hot link cannot run up S3 egress. It returns nil or
// a *ratelimit.LimitedError.
func (s *Server) limitMint(linkID string) error {
	return s.take(s.limits.link, scopeLink, linkID)
}

// limitedPublic audits a public request refused by a rate limit and returns
// err for adapt to answer 429 with Retry-After.
func (s *Server) limitedPublic(w http.ResponseWriter, r *http.Request, linkID string, err error) error {
	setShareHeaders(w.Header())
	ev := accessEvent(r)
	ev.LinkID, ev.Detail = linkID, limitDetail(err)
	return s.denyOpen(r, ev, "rate_limited", err)
}

// limitedAPI audits an API request refused by its token's limit.
func (s *Server) limitedAPI(r *http.Request, err error) error {
	info(r).outcome = "rate_limited"
	ev := s.apiEvent(r, audit.ActionAPIRequest, limitDetail(err))
	ev.Outcome, ev.Reason = audit.OutcomeDenied, "rate_limited"
	if _, aerr := s.audit.Append(r.Context(), ev, nil); aerr != nil {
		return aerr
	}
	return err
}

// limitDetail names the limit in the audit row: {"limit":"miss"}.
func limitDetail(err error) string {
	var le *ratelimit.LimitedError
	if !errors.As(err, &le) {
		return ""
	}
	b, _ := json.Marshal(map[string]string{"limit": le.Scope})
	return string(b)
}
