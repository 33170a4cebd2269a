package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// auditRemote are the flags that point audit list, export and verify at a
// running server instead of a database.
type auditRemote struct {
	URL   string `name:"url" envvar:"SHARESVC_URL" placeholder:"URL" help:"Ask this running sharesvc instead of reading a database (with SHARESVC_TOKEN: an auditor's or an admin's)."`
	Token string `name:"token" envvar:"SHARESVC_TOKEN" placeholder:"TOKEN" help:"API token for --url (prefer the variable: flags show up in ps)."`
}

// client decides where audit command cmd reads: offline from the database
// dbPath (nil client), or from the server the flags name. Exactly one of
// the two must be given.
func (r *auditRemote) client(cmd, dbPath string) (*apiClient, error) {
	return offlineOrRemote(cmd, "read", "an auditor's", dbPath, r.URL, r.Token)
}

// query is the filter flags as the audit routes take them. Times go as
// given (relative ones are read by the server's clock) and a client
// address as typed: the server applies its own privacy mode.
func (f *auditFilter) query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"link_id": f.LinkID, "actor": f.Actor, "action": f.Action, "outcome": f.Outcome,
		"reason": f.Reason, "client_ip": f.ClientIP, "request_id": f.RequestID, "since": f.Since, "until": f.Until,
		"bucket": f.Bucket, "key_prefix": f.KeyPrefix, "recipient": f.Recipient} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// remoteEvent is the part of an event (GET /api/v1/audit) the table shows.
type remoteEvent struct {
	Seq       int64     `json:"seq"`
	At        time.Time `json:"at"`
	Action    string    `json:"action"`
	Actor     string    `json:"actor"`
	LinkID    string    `json:"link_id"`
	Outcome   string    `json:"outcome"`
	Reason    string    `json:"reason"`
	ClientIP  string    `json:"client_ip"`
	RequestID string    `json:"request_id"`
}

// listRemote is audit list against a server: one page of GET /api/v1/audit,
// printed as offline.
func (c *auditListCmd) listRemote(e *runEnv, cl *apiClient) error {
	q := c.query()
	q.Set("limit", strconv.Itoa(c.Limit))
	if c.Cursor != 0 {
		q.Set("cursor", strconv.FormatInt(c.Cursor, 10))
	}
	var page struct {
		Events     []json.RawMessage `json:"events"`
		NextCursor string            `json:"next_cursor"`
	}
	if err := cl.do(e.ctx, "GET", "/api/v1/audit?"+q.Encode(), nil, &page); err != nil {
		return fmt.Errorf("audit list: %w", err)
	}
	if c.JSON {
		var buf bytes.Buffer
		for _, raw := range page.Events {
			buf.Reset()
			if err := json.Compact(&buf, raw); err != nil {
				return fmt.Errorf("audit list: unexpected answer: %w", err)
			}
			buf.WriteByte('\n')
			if _, err := e.stdout.Write(buf.Bytes()); err != nil {
				return err
			}
		}
	} else {
		rows := make([][]string, 0, len(page.Events))
		for _, raw := range page.Events {
			var ev remoteEvent
			if err := json.Unmarshal(raw, &ev); err != nil {
				return fmt.Errorf("audit list: unexpected answer: %w", err)
			}
			rows = append(rows, []string{strconv.FormatInt(ev.Seq, 10), ev.At.UTC().Format("2006-01-02 15:04:05.000Z"),
				ev.Action, ev.Actor, dash(ev.LinkID), ev.Outcome, dash(ev.Reason), dash(ev.ClientIP), dash(ev.RequestID)})
		}
		if err := table(e.stdout, []string{"SEQ", "AT", "ACTION", "ACTOR", "LINK", "OUTCOME", "REASON", "CLIENT", "REQUEST"}, rows); err != nil {
			return err
		}
	}
	if page.NextCursor != "" {
		fmt.Fprintf(e.stderr, "more: add --cursor %s\n", page.NextCursor)
	}
	return nil
}

// exportRemote is audit export against a server: GET /api/v1/audit/export,
// streamed to the output as it arrives.
func (c *auditExportCmd) exportRemote(e *runEnv, cl *apiClient, format string) error {
	if err := cl.check(); err != nil {
		return fmt.Errorf("audit export: %w", err)
	}
	q := c.query()
	q.Set("format", format)
	body, err := cl.stream(e.ctx, "/api/v1/audit/export?"+q.Encode())
	if err != nil {
		return fmt.Errorf("audit export: %w", err)
	}
	defer body.Close()
	w := e.stdout
	var fh *os.File
	if c.Out != "" {
		if fh, err = os.OpenFile(c.Out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
			return fmt.Errorf("audit export: %w", err)
		}
		w = fh
	}
	cw := &recordCounter{w: w}
	_, err = io.Copy(cw, body)
	if fh != nil {
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("audit export: %w", err)
	}
	n := cw.records
	if format == "csv" && n > 0 {
		n-- // the header
	}
	fmt.Fprintf(e.stderr, "exported %d events\n", n)
	return nil
}

// recordCounter passes bytes through and counts the lines outside CSV
// quotes: records of JSON Lines or CSV (a quoted cell may hold a line break).
type recordCounter struct {
	w       io.Writer
	quoted  bool
	records int64
}

func (r *recordCounter) Write(p []byte) (int, error) {
	for _, b := range p {
		switch {
		case b == '"':
			r.quoted = !r.quoted
		case b == '\n' && !r.quoted:
			r.records++
		}
	}
	return r.w.Write(p)
}

// stream sends GET path and returns the body of a 200 answer, for answers
// too large to hold: no overall timeout, only one for the headers.
func (c *apiClient) stream(ctx context.Context, path string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	hc := &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, ResponseHeaderTimeout: 30 * time.Second}}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", strings.SplitN(path, "?", 2)[0], err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		ae := &apiError{Status: resp.StatusCode, Title: resp.Status}
		json.Unmarshal(b, ae)
		return nil, ae
	}
	return resp.Body, nil
}

// remoteVerify is the answer of GET /api/v1/audit/verify.
type remoteVerify struct {
	OK            bool   `json:"ok"`
	Error         string `json:"error"`
	Rows          int64  `json:"rows"`
	FirstSeq      int64  `json:"first_seq"`
	LastSeq       int64  `json:"last_seq"`
	Head          string `json:"head"`
	BadSeq        int64  `json:"bad_seq"`
	PrunedThrough int64  `json:"pruned_through"`
	Checkpoint    *struct {
		Seq       int64     `json:"seq"`
		At        time.Time `json:"at"`
		PublicKey string    `json:"public_key"`
		Matched   *bool     `json:"matched"`
	} `json:"checkpoint"`
	Checkpoints int `json:"checkpoints"`
}

// verifyRemote is audit verify against a server: the server checks its
// chain against its checkpoints (GET /api/v1/audit/verify); the summary
// and the exit status are those of an offline verification.
func (c *auditVerifyCmd) verifyRemote(e *runEnv, cl *apiClient) error {
	if c.Checkpoint != "" || c.PublicKey != "" || c.Anchor.Bucket != "" {
		return errors.New("audit verify: --checkpoint, --public-key and --anchor-bucket are for offline verification (--db); " +
			"against a server (SHARESVC_URL), the server checks its own checkpoints")
	}
	var res remoteVerify
	if err := cl.do(e.ctx, "GET", "/api/v1/audit/verify", nil, &res); err != nil {
		return fmt.Errorf("audit verify: %w", err)
	}
	stdout := e.stdout
	if !res.OK {
		fmt.Fprintf(stdout, "FAILED after %d good rows: %s\n", res.Rows, res.Error)
		return fmt.Errorf("audit verify: the audit log of %s does not verify (first bad row: %d)", cl.base, res.BadSeq)
	}
	if res.Rows == 0 {
		fmt.Fprintln(stdout, "OK: the audit log is empty")
	} else {
		fmt.Fprintf(stdout, "OK: rows %d..%d (%d) verify; head %s\n", res.FirstSeq, res.LastSeq, res.Rows, res.Head)
	}
	if res.PrunedThrough > 0 {
		fmt.Fprintf(stdout, "rows 1..%d were removed by an audited prune\n", res.PrunedThrough)
	}
	if cp := res.Checkpoint; cp != nil {
		state := "matches"
		if cp.Matched != nil && !*cp.Matched {
			state = "predates the pruned range and cannot be compared"
		}
		fmt.Fprintf(stdout, "checkpoint of row %d (%s) %s; checked by the server, signed by public key %s\n", cp.Seq,
			cp.At.Format(time.RFC3339), state, cp.PublicKey)
		fmt.Fprintf(stdout, "%d checkpoints checked\n", res.Checkpoints)
	} else {
		fmt.Fprintln(stdout, "the server has no checkpoint: a cut-off tail would go unnoticed")
	}
	return nil
}
