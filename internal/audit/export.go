package audit

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sharesvc/sharesvc/internal/duration"
)

// Format is an export format.
type Format string

// Export formats.
const (
	// FormatCSV is RFC 4180 CSV with a header row. Cells that a spreadsheet
	// would run as a formula (starting with = + - @ or a tab or CR) get a
	// leading apostrophe; use JSON Lines for exact values.
	FormatCSV Format = "csv"
	// FormatJSONL is one JSON object per line, exact values.
	FormatJSONL Format = "jsonl"
)

// ParseFormat returns the format named s ("csv", "jsonl"; "" means jsonl).
// Errors wrap ErrInvalidFilter.
func ParseFormat(s string) (Format, error) {
	switch s {
	case "", "jsonl", "ndjson":
		return FormatJSONL, nil
	case "csv":
		return FormatCSV, nil
	}
	return "", fmt.Errorf("%w: format %q must be csv or jsonl", ErrInvalidFilter, s)
}

// ContentType returns the media type of the format.
func (f Format) ContentType() string {
	if f == FormatCSV {
		return "text/csv; charset=utf-8"
	}
	return "application/x-ndjson"
}

// csvHeader names the CSV columns, in the order of the JSON fields.
var csvHeader = []string{"seq", "at", "action", "actor", "link_id", "outcome", "reason", "client_ip",
	"user_agent", "request_id", "url_expires_at", "sts_session", "detail", "prev_hash", "hash", "bucket", "key"}

const (
	timeMicros = "2006-01-02T15:04:05.000000Z07:00"
	timeMillis = "2006-01-02T15:04:05.000Z07:00"
)

// exportPageRows is how many rows Export reads per query. No database
// connection is held while a page is written, so that a client that reads
// slowly (or never) holds none of the pool that other requests need.
const exportPageRows = 500

// Export writes the events matching f (Limit and Before are ignored) to w in
// chain order, oldest first, as they were when it started (rows appended
// meanwhile are left for the next export). It reads a page of rows at a
// time by seq and holds no database connection while it writes: memory does
// not grow with the number of rows, and a slow w holds nothing but itself.
// It returns the rows written. Errors: ErrInvalidFilter (wrapped), or the
// database or write error.
func Export(ctx context.Context, db *sql.DB, f Filter, format Format, w io.Writer) (int64, error) {
	f.Limit, f.Before = 0, 0
	if err := f.Validate(); err != nil {
		return 0, err
	}
	if format != FormatCSV && format != FormatJSONL {
		return 0, fmt.Errorf("%w: format %q must be csv or jsonl", ErrInvalidFilter, format)
	}
	var last int64
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit_events`).Scan(&last); err != nil {
		return 0, fmt.Errorf("export audit events: %w", err)
	}
	cond, args := f.where()
	query := `SELECT ` + eventColumns + ` FROM audit_events WHERE ` + cond + ` AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?`
	bw := bufio.NewWriterSize(w, 64<<10)
	var (
		n    int64
		cw   *csv.Writer
		rec  []string
		line []byte
		page []Event
		err  error
	)
	if format == FormatCSV {
		cw = csv.NewWriter(bw)
		if err := cw.Write(csvHeader); err != nil {
			return 0, err
		}
		rec = make([]string, len(csvHeader))
	}
	for after := int64(0); after < last; after = page[len(page)-1].Seq {
		page, err = exportPage(ctx, db, query, append(args[:len(args):len(args)], after, last, exportPageRows), page[:0])
		if err != nil {
			return n, err
		}
		if err := attachObjects(ctx, db, page); err != nil {
			return n, fmt.Errorf("export audit events: %w", err)
		}
		for i := range page {
			if cw != nil {
				page[i].csvRecord(rec)
				err = cw.Write(rec)
			} else {
				line = append(page[i].AppendJSON(line[:0]), '\n')
				_, err = bw.Write(line)
			}
			if err != nil {
				return n, fmt.Errorf("export audit events: %w", err)
			}
			n++
		}
		if len(page) < exportPageRows {
			break
		}
	}
	if cw != nil {
		cw.Flush()
		if err := cw.Error(); err != nil {
			return n, fmt.Errorf("export audit events: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("export audit events: %w", err)
	}
	return n, nil
}

// exportPage reads one page of Export's query into buf, releasing the
// connection before it returns.
func exportPage(ctx context.Context, db *sql.DB, query string, args []any, buf []Event) ([]Event, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return buf, fmt.Errorf("export audit events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		ev, err := scanEvent(rows)
		if err != nil {
			return buf, fmt.Errorf("export audit events: %w", err)
		}
		buf = append(buf, ev)
	}
	if err := rows.Err(); err != nil {
		return buf, fmt.Errorf("export audit events: %w", err)
	}
	return buf, nil
}

func (e *Event) csvRecord(rec []string) {
	urlExp := ""
	if !e.URLExpiresAt.IsZero() {
		urlExp = e.URLExpiresAt.UTC().Format(timeMillis)
	}
	var bucket, key string
	if e.Object != nil {
		bucket, key = e.Object.Bucket, cell(e.Object.Key)
	}
	copy(rec, []string{strconv.FormatInt(e.Seq, 10), e.At.UTC().Format(timeMicros), cell(e.Action), cell(e.Actor),
		cell(e.LinkID), cell(e.Outcome), cell(e.Reason), cell(e.ClientIP), cell(e.UserAgent), cell(e.RequestID),
		urlExp, cell(e.STSSession), cell(e.Detail), hex.EncodeToString(e.PrevHash), hex.EncodeToString(e.Hash),
		bucket, key})
}

// cell defuses text a spreadsheet would evaluate as a formula.
func cell(s string) string {
	if s != "" {
		switch s[0] {
		case '=', '+', '-', '@', '\t', '\r':
			return "'" + s
		}
	}
	return s
}

// MarshalJSON encodes the event as AppendJSON does.
func (e Event) MarshalJSON() ([]byte, error) { return e.AppendJSON(nil), nil }

// AppendJSON appends the event's JSON form: seq, at (RFC 3339, µs), action,
// actor, link_id, outcome, reason, client_ip, user_agent, request_id,
// url_expires_at (RFC 3339, ms, or null), sts_session, detail (the stored
// JSON text, as a string), prev_hash and hash (hex), and object
// ({"bucket","key"}) when the row names a link.
func (e *Event) AppendJSON(b []byte) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendInt(b, e.Seq, 10)
	b = append(b, `,"at":"`...)
	b = e.At.UTC().AppendFormat(b, timeMicros)
	b = append(b, '"')
	for _, kv := range [...]struct{ k, v string }{
		{"action", e.Action}, {"actor", e.Actor}, {"link_id", e.LinkID}, {"outcome", e.Outcome},
		{"reason", e.Reason}, {"client_ip", e.ClientIP}, {"user_agent", e.UserAgent}, {"request_id", e.RequestID},
	} {
		b = append(b, ',', '"')
		b = append(b, kv.k...)
		b = append(b, '"', ':')
		b = appendJSONString(b, kv.v)
	}
	b = append(b, `,"url_expires_at":`...)
	if e.URLExpiresAt.IsZero() {
		b = append(b, "null"...)
	} else {
		b = append(b, '"')
		b = e.URLExpiresAt.UTC().AppendFormat(b, timeMillis)
		b = append(b, '"')
	}
	b = append(b, `,"sts_session":`...)
	b = appendJSONString(b, e.STSSession)
	b = append(b, `,"detail":`...)
	b = appendJSONString(b, e.Detail)
	b = append(b, `,"prev_hash":"`...)
	b = hex.AppendEncode(b, e.PrevHash)
	b = append(b, `","hash":"`...)
	b = hex.AppendEncode(b, e.Hash)
	b = append(b, '"')
	if e.Object != nil {
		b = append(b, `,"object":{"bucket":`...)
		b = appendJSONString(b, e.Object.Bucket)
		b = append(b, `,"key":`...)
		b = appendJSONString(b, e.Object.Key)
		b = append(b, '}')
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, escaping what JSON requires
// plus <, >, & and U+2028/U+2029 (like encoding/json), and replacing invalid
// UTF-8 with U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			switch r {
			case utf8.RuneError:
				b = append(b, `\ufffd`...)
			case '\u2028':
				b = append(b, `\u2028`...)
			default:
				b = append(b, `\u2029`...)
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// ParseTime reads a time filter: RFC 3339, or a whole number of Unix
// seconds. Errors wrap ErrInvalidFilter and name field.
func ParseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 && n < 1<<36 {
		return time.Unix(n, 0).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %s %q must be an RFC 3339 time (2026-01-02T15:04:05Z) or Unix seconds", ErrInvalidFilter, field, s)
	}
	return t.UTC(), nil
}

// ParseTimeAt reads a time filter like ParseTime, and also a duration
// meaning that long before now ("7d", "12h", "1w"). A bare number stays Unix
// seconds. Errors wrap ErrInvalidFilter and name field.
func ParseTimeAt(field, s string, now time.Time) (time.Time, error) {
	t, err := ParseTime(field, s)
	if err == nil || strings.Trim(s, "0123456789") == "" {
		return t, err
	}
	d, derr := duration.Parse(s)
	if derr != nil {
		return time.Time{}, fmt.Errorf("%w: %s %q must be an RFC 3339 time (2026-01-02T15:04:05Z), Unix seconds, or a duration ago (7d, 12h)", ErrInvalidFilter, field, s)
	}
	return now.Add(-d).UTC(), nil
}
