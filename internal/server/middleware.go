package server

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/sharesvc/sharesvc/internal/auth"
	"github.com/sharesvc/sharesvc/internal/db"
)

// handlerFunc is a handler that returns its error for adapt to answer.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// reqInfo travels in the request context; handlers fill in the outcome.
type reqInfo struct {
	id      string
	route   string
	outcome string
	token   *auth.Token
	public  bool       // answer errors as HTML to browsers
	ip      netip.Addr // client address under the trusted-proxy rule
}

type ctxKey struct{}

func info(r *http.Request) *reqInfo {
	ri, _ := r.Context().Value(ctxKey{}).(*reqInfo)
	if ri == nil {
		ri = &reqInfo{}
	}
	return ri
}

// statusWriter remembers the status sent.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer (to
// flush, or lift the write deadline for a long export).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// adapt turns a handlerFunc into an http.Handler: it assigns the request id,
// answers errors through the error table, and logs and counts one line per
// request. It logs the route template, never the path (which holds codes).
func (s *Server) adapt(route string, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		s.metrics.InFlight.Inc()
		defer s.metrics.InFlight.Dec()
		ri := &reqInfo{id: newRequestID(), route: route}
		ri.ip = s.ipSource.Resolve(r.RemoteAddr, r.Header.Values("X-Forwarded-For"))
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, ri))
		sw := &statusWriter{ResponseWriter: w}
		sw.Header().Set("X-Request-Id", ri.id)
		// No route takes more than a small JSON body; uploads go to S3.
		r.Body = http.MaxBytesReader(sw, r.Body, maxRequestBody)
		err := h(sw, r)
		if err != nil {
			p := toProblem(err)
			p.RequestID = ri.id
			if ri.outcome == "" {
				ri.outcome = "error"
			}
			if p.Status >= 500 && db.IsEngineError(err) {
				s.metrics.DBErrors.WithLabelValues("read").Inc()
			}
			if p.Status >= 500 {
				s.log.Error("request failed", "request_id", ri.id, "route", route, "status", p.Status, "err", p.cause)
			}
			if sw.status == 0 {
				writeProblem(sw, r, p, ri.public)
			}
		}
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		if ri.outcome == "" {
			ri.outcome = "ok"
		}
		d := time.Since(start)
		s.metrics.Requests.WithLabelValues(route, r.Method, statusClass(sw.status), ri.outcome).Inc()
		s.metrics.RequestDuration.WithLabelValues(route, ri.outcome).Observe(d.Seconds())
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("request_id", ri.id), slog.String("method", r.Method), slog.String("route", route),
			slog.Int("status", sw.status), slog.Float64("duration_ms", float64(d.Microseconds())/1000), slog.String("outcome", ri.outcome))
	})
}

// statusClass returns "2xx" for 200 to 299 and so on, without building the
// string on every request.
func statusClass(status int) string {
	if c := status / 100; c >= 1 && c <= 5 {
		return [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}[c-1]
	}
	return strconv.Itoa(status/100) + "xx"
}

// newRequestID returns 24 hex digits: the time in microseconds (8 bytes,
// big-endian) then 4 random bytes. Ids sort by time, so that the audit
// index on request_id grows at its right edge instead of dirtying a random
// page of a large index for every request; the random tail keeps two
// requests in the same microsecond apart.
func newRequestID() string {
	var b [12]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().UnixMicro()))
	rand.Read(b[8:])
	return hex.EncodeToString(b[:])
}

// authed requires a bearer token whose role is one of roles.
func (s *Server) authed(h handlerFunc, roles ...auth.Role) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		hdr := r.Header.Get("Authorization")
		secret, ok := strings.CutPrefix(hdr, "Bearer ")
		if !ok {
			return auth.ErrUnauthenticated
		}
		t, err := s.tokens.Authenticate(r.Context(), strings.TrimSpace(secret), s.now())
		if err != nil {
			return err
		}
		if !hasRole(t, roles) {
			return auth.ErrForbidden
		}
		info(r).token = t
		if err := s.take(s.limits.token, scopeToken, t.ID); err != nil {
			return s.limitedAPI(r, err)
		}
		return h(w, r)
	}
}

// clientIP is the client's address: the direct peer, or, when the peer is
// a configured trusted proxy, the nearest untrusted X-Forwarded-For hop.
func clientIP(r *http.Request) string {
	if a := info(r).ip; a.IsValid() {
		return a.String()
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// maxRequestBody bounds every request body; decodeJSON's own, smaller limit
// answers 413 first on the API.
const maxRequestBody = 1 << 20

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, err := w.Write([]byte("ok\n"))
	return err
}
