package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"
)

// apiClient talks to a running sharesvc for the admin commands.
type apiClient struct {
	base  string
	token string
	http  *http.Client
}

// clientFlags are the flags of every admin command: where the server is,
// the token to use, and --json.
type clientFlags struct {
	URL   string `name:"url" envvar:"SHARESVC_URL" placeholder:"URL" help:"Base URL of the running sharesvc, e.g. https://share.example."`
	Token string `name:"token" envvar:"SHARESVC_TOKEN" placeholder:"TOKEN" help:"API token (prefer the variable: flags show up in ps)."`
	JSON  bool   `name:"json" help:"Print JSON instead of a table."`
}

// client returns the API client the flags describe.
func (f *clientFlags) client() *apiClient {
	return &apiClient{base: f.URL, token: f.Token}
}

// offlineOrRemote picks where command cmd works: offline on the database
// dbPath (nil client), or through the server at base with token. Exactly
// one of the two must be given; verb says what the command does there
// ("read", "work on") and role whose token the server wants.
func offlineOrRemote(cmd, verb, role, dbPath, base, token string) (*apiClient, error) {
	switch {
	case dbPath != "" && base != "":
		return nil, fmt.Errorf("%s: both a database (--db or SHARESVC_DB) and a server (--url or SHARESVC_URL) are given: "+
			"give --db to %s a database offline, or SHARESVC_URL with %s token to ask a running server, not both", cmd, verb, role)
	case dbPath == "" && base == "":
		return nil, fmt.Errorf("%s: say where to %s: --db FILE|URL (or SHARESVC_DB) for a database offline, "+
			"or SHARESVC_URL and SHARESVC_TOKEN (%s token) for a running server", cmd, verb, role)
	case dbPath != "":
		return nil, nil
	}
	return &apiClient{base: base, token: token}, nil
}

func (c *apiClient) check() error {
	if c.base == "" {
		return errors.New("no server: set SHARESVC_URL (or --url) to the running sharesvc")
	}
	if c.token == "" {
		return errors.New("no token: set SHARESVC_TOKEN (create one with: sharesvc token create --role admin --name NAME)")
	}
	c.base = strings.TrimRight(c.base, "/")
	if c.http == nil {
		c.http = &http.Client{Timeout: 30 * time.Second}
	}
	return nil
}

// apiError is a problem+json answer.
type apiError struct {
	Status int    `json:"status"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
	Type   string `json:"type"`
}

func (e *apiError) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("%s (%d): %s", e.Title, e.Status, e.Detail)
	}
	return fmt.Sprintf("%s (%d)", e.Title, e.Status)
}

// do sends a request and decodes a JSON answer into out (if not nil).
func (c *apiClient) do(ctx context.Context, method, path string, in, out any) error {
	if err := c.check(); err != nil {
		return err
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 400 {
		ae := &apiError{Status: resp.StatusCode, Title: resp.Status}
		json.Unmarshal(b, ae)
		return ae
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: unexpected answer: %w", method, path, err)
		}
	}
	return nil
}

// printJSON writes v indented.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes rows aligned in columns.
func table(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if header != nil {
		fmt.Fprintln(tw, strings.Join(header, "\t"))
	}
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func fmtTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}
