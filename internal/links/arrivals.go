package links

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ErrNoArrival means no upload was signed for that key through that link,
// or it has not reached the object store.
var ErrNoArrival = errors.New("no such upload")

// Arrival states.
const (
	ArrivalPending = "pending" // a PUT URL was minted for it
	ArrivalArrived = "arrived" // the object was seen in the store
)

// NotifyArrivals is the NotifyMode of an upload link whose sharer is
// mailed about each arrival.
const NotifyArrivals = "arrivals"

// MaxFilenameBytes bounds a recorded upload name.
const MaxFilenameBytes = 255

// Arrival is one upload through an upload link.
type Arrival struct {
	ID        string // "arr_…"
	LinkID    string
	Key       string // the object key the upload was signed for
	Filename  string // the uploader's file name, cleaned; "" unknown
	Bytes     int64
	ClientIP  string // under the audit log's privacy mode
	State     string // ArrivalPending or ArrivalArrived
	CreatedAt time.Time
	ArrivedAt time.Time // zero while pending
}

// NewArrivalID returns a fresh public arrival id.
func NewArrivalID() string {
	var b [10]byte
	rand.Read(b[:])
	return "arr_" + idEncoding.EncodeToString(b[:])
}

// CleanFilename makes an uploader's file name safe to keep and show: the
// last path segment only (browsers on Windows send "C:\…\name"), control
// and format characters dropped, invalid UTF-8 replaced, and at most
// MaxFilenameBytes bytes cut on a character boundary. A name of dots only
// becomes "".
func CleanFilename(name string) string {
	name = strings.ToValidUTF8(name, "\uFFFD")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	for len(name) > MaxFilenameBytes {
		_, n := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-n]
	}
	if strings.Trim(name, ".") == "" {
		return ""
	}
	return name
}

// MetaFilename is the name of the S3 user metadata that keeps an uploaded
// file's own name with its object, sent as the header MetaFilenameHeader.
const (
	MetaFilename       = "filename"
	MetaFilenameHeader = "X-Amz-Meta-Filename"
)

// NameHeaders returns what keeps a file's name (cleaned, see
// CleanFilename) with its object in S3: the Content-Disposition value,
// which S3 answers on every GET — "attachment", an ASCII fallback name
// (RFC 6266; anything else replaced by '_') and the UTF-8 name in RFC 5987
// form — and the value of the MetaFilename metadata, the UTF-8 name
// percent-encoded the same way, since S3 metadata is ASCII. Both are ""
// for the name "".
func NameHeaders(name string) (disposition, meta string) {
	if name == "" {
		return "", ""
	}
	fallback := strings.Map(func(r rune) rune {
		if r < ' ' || r > '~' || r == '"' || r == '\\' {
			return '_'
		}
		return r
	}, name)
	meta = encodeExtValue(name)
	return `attachment; filename="` + fallback + `"; filename*=UTF-8''` + meta, meta
}

// encodeExtValue percent-encodes s as an RFC 5987 ext-value: every byte
// but the attr-chars (letters, digits and !#$&+-.^_`|~).
func encodeExtValue(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// InsertArrival records a pending arrival through q (the transaction that
// spends the link's use).
func InsertArrival(ctx context.Context, q Querier, a *Arrival) error {
	_, err := q.ExecContext(ctx, `INSERT INTO arrivals (id, link_id, object_key, filename, bytes, client_ip, state, created_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, a.ID, a.LinkID, a.Key, a.Filename, a.Bytes, a.ClientIP, ArrivalPending, ms(a.CreatedAt))
	if err != nil {
		return fmt.Errorf("record upload: %w", err)
	}
	return nil
}

const arrivalColumns = `id, link_id, object_key, filename, bytes, client_ip, state, created_at, arrived_at`

func scanArrival(row rowScanner) (*Arrival, error) {
	var (
		a       Arrival
		created int64
		arrived sql.NullInt64
	)
	if err := row.Scan(&a.ID, &a.LinkID, &a.Key, &a.Filename, &a.Bytes, &a.ClientIP, &a.State, &created, &arrived); err != nil {
		return nil, err
	}
	a.CreatedAt = fromMS(created)
	if arrived.Valid {
		a.ArrivedAt = fromMS(arrived.Int64)
	}
	return &a, nil
}

// Upload returns upload id signed through link linkID, pending or arrived.
// Errors: ErrNoArrival.
func (s *Store) Upload(ctx context.Context, linkID, id string) (*Arrival, error) {
	a, err := scanArrival(s.db.QueryRowContext(ctx, `SELECT `+arrivalColumns+` FROM arrivals
        WHERE link_id = ? AND id = ?`, linkID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNoArrival
	}
	if err != nil {
		return nil, fmt.Errorf("read upload: %w", err)
	}
	return a, nil
}

// MarkArrived turns pending arrival id into an arrived one through q and
// reports whether it changed it (false: it had arrived already).
func MarkArrived(ctx context.Context, q Querier, id string, at time.Time) (bool, error) {
	res, err := q.ExecContext(ctx, `UPDATE arrivals SET state = ?, arrived_at = ? WHERE id = ? AND state = ?`,
		ArrivalArrived, ms(at), id, ArrivalPending)
	if err != nil {
		return false, fmt.Errorf("record arrival: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// Arrivals returns what arrived through link linkID, newest first, at most
// limit rows (pending uploads are left out: their bytes may never come).
func (s *Store) Arrivals(ctx context.Context, linkID string, limit int) ([]*Arrival, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+arrivalColumns+` FROM arrivals
        WHERE link_id = ? AND state = ? ORDER BY created_at DESC, id DESC LIMIT ?`, linkID, ArrivalArrived, limit)
	if err != nil {
		return nil, fmt.Errorf("list uploads: %w", err)
	}
	defer rows.Close()
	var out []*Arrival
	for rows.Next() {
		a, err := scanArrival(rows)
		if err != nil {
			return nil, fmt.Errorf("list uploads: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Arrival returns arrival id of link linkID. Errors: ErrNoArrival.
func (s *Store) Arrival(ctx context.Context, linkID, id string) (*Arrival, error) {
	a, err := scanArrival(s.db.QueryRowContext(ctx, `SELECT `+arrivalColumns+` FROM arrivals
        WHERE link_id = ? AND id = ? AND state = ?`, linkID, id, ArrivalArrived))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNoArrival
	}
	if err != nil {
		return nil, fmt.Errorf("read upload: %w", err)
	}
	return a, nil
}
