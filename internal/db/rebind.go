package db

import (
	"strconv"
	"strings"
	"sync"
)

// sharesvc's SQL is written once, with SQLite's "?" placeholders; on
// PostgreSQL the connection rewrites them to "$1", "$2"… before the server
// sees the statement (rebind), so no store knows the engine.

// rebindCacheMax bounds the cache of rewritten statements. The stores build
// a bounded set of statements (filters combine a fixed set of clauses), so
// in practice the cache holds them all; beyond the bound a statement is
// rewritten each time.
const rebindCacheMax = 2048

var rebindCache struct {
	sync.RWMutex
	m map[string]string
}

// Rebind returns query with each "?" placeholder replaced by "$1", "$2"…
// in order. A "?" inside a string literal ('…'), a quoted identifier
// ("…"), a dollar-quoted string ($tag$…$tag$) or a comment (-- … and
// /* … */) is left alone.
func Rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	rebindCache.RLock()
	out, ok := rebindCache.m[query]
	rebindCache.RUnlock()
	if ok {
		return out
	}
	out = rebind(query)
	rebindCache.Lock()
	if rebindCache.m == nil {
		rebindCache.m = make(map[string]string)
	}
	if len(rebindCache.m) < rebindCacheMax {
		rebindCache.m[query] = out
	}
	rebindCache.Unlock()
	return out
}

func rebind(q string) string {
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			i++
			continue
		case c == '\'' || c == '"':
			// A quote inside is doubled, which this reads as two strings.
			j := strings.IndexByte(q[i+1:], c)
			if j < 0 {
				b.WriteString(q[i:])
				return b.String()
			}
			b.WriteString(q[i : i+j+2])
			i += j + 2
			continue
		case c == '-' && strings.HasPrefix(q[i:], "--"):
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				b.WriteString(q[i:])
				return b.String()
			}
			b.WriteString(q[i : i+j+1])
			i += j + 1
			continue
		case c == '/' && strings.HasPrefix(q[i:], "/*"):
			j := strings.Index(q[i+2:], "*/")
			if j < 0 {
				b.WriteString(q[i:])
				return b.String()
			}
			b.WriteString(q[i : i+j+4])
			i += j + 4
			continue
		case c == '$':
			if tag, ok := dollarTag(q[i:]); ok {
				j := strings.Index(q[i+len(tag):], tag)
				if j < 0 {
					b.WriteString(q[i:])
					return b.String()
				}
				end := i + len(tag) + j + len(tag)
				b.WriteString(q[i:end])
				i = end
				continue
			}
		}
		b.WriteByte(c)
		i++
	}
	return b.String()
}

// dollarTag returns the opening tag of a dollar-quoted string at the start
// of s ("$$" or "$name$"), if there is one.
func dollarTag(s string) (string, bool) {
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '$':
			return s[:i+1], true
		case c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 1 && '0' <= c && c <= '9':
		default:
			return "", false
		}
	}
	return "", false
}
