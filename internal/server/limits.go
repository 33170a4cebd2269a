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

// public puts the per-address limit in front of a public route, before any
// lookup. The miss budget is charged after the lookup, by openLink, and only
// for a code that is unknown (see chargeMiss): a link that works is never
// refused because of codes the same address got wrong, so many clients
// behind one NAT address can all open it.
func (s *Server) public(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ri := info(r)
		ri.public = true
		if err := s.take(s.limits.ip, scopeIP, ratelimit.IPKey(ri.ip)); err != nil {
			return s.limitedPublic(w, r, "", err)
		}
		return h(w, r)
	}
}

// chargeMiss charges one unknown code to the request's client address. Out
// of misses it returns a *ratelimit.LimitedError: the unknown code is then
// answered 429 instead of 404, so an address keeps getting 429 for unknown
// codes until its budget refills, while a known code from it still opens.
//
// That difference (429 for an unknown code, 302 for a real one) tells a
// guesser whether a guess was right, exactly as 404 against 302 does before
// the budget runs out; it is acceptable because codes are far too many to
// guess, and each guess still costs one request of the per-address limit.
// What the miss budget bounds is how many unknown codes an address gets
// looked up and answered 404 for; refusing real codes as well would lock
// every client behind a shared address out of working links.
func (s *Server) chargeMiss(r *http.Request) error {
	return s.take(s.limits.miss, scopeMiss, ratelimit.IPKey(info(r).ip))
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
