package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/sharesvc/sharesvc/internal/mail"
	"github.com/sharesvc/sharesvc/internal/mailpit"
	"github.com/sharesvc/sharesvc/internal/seaweed"
	"github.com/sharesvc/sharesvc/internal/server"
)

// demoObject is uploaded by the demo and shared by its link.
const (
	demoBucket = "sharesvc-demo"
	demoKey    = "hello/Hello from sharesvc.txt"
	demoBody   = "Hello! This file came to you through a sharesvc link: a fresh presigned URL, signed a moment ago with STS session credentials.\n"
)

// demoCmd is "sharesvc demo".
type demoCmd struct {
	Dir        string `name:"dir" default:".sharesvc-demo" help:"Directory for the demo's database and S3 data."`
	Listen     string `name:"listen" default:"127.0.0.1:8080" help:"Address sharesvc listens on."`
	Check      bool   `name:"check" help:"Open the printed link once, check the bytes, and exit."`
	OIDC       bool   `name:"oidc" help:"Also start a local identity provider with two people to sign in to the console as (with -check: sign one in)."`
	OIDCListen string `name:"oidc-listen" default:"127.0.0.1:9998" help:"Address the identity provider of -oidc listens on (its issuer URL)."`
}

func (c *demoCmd) Run(e *runEnv) error {
	ctx, getenv, stdout, stderr := e.ctx, e.getenv, e.stdout, e.stderr
	dir, listen, check := c.Dir, c.Listen, c.Check
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	bin, err := seaweed.BinaryPath()
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	fmt.Fprintln(stderr, "starting the local S3+STS server (SeaweedFS) ...")
	s3dir, err := filepath.Abs(filepath.Join(dir, "s3"))
	if err != nil {
		return err
	}
	os.RemoveAll(s3dir) // fresh keys every run; the demo's objects are disposable
	srv, err := seaweed.Start(ctx, seaweed.Options{Binary: bin, Dir: s3dir, Buckets: []string{demoBucket}})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer srv.Stop()
	if err := srv.PutObject(ctx, demoBucket, demoKey, []byte(demoBody)); err != nil {
		return fmt.Errorf("demo: upload sample object: %w", err)
	}
	// Sharing by email goes to a local Mailpit when it is built (make
	// tools does); without it the demo runs with mail off.
	mailDir, err := filepath.Abs(filepath.Join(dir, "mail"))
	if err != nil {
		return err
	}
	os.RemoveAll(mailDir)
	os.MkdirAll(mailDir, 0o700)
	mp, mpErr := mailpit.Start(ctx, mailDir)
	if mpErr != nil {
		fmt.Fprintf(stderr, "sharing by email is off in this demo: %v\n", mpErr)
	} else {
		defer mp.Stop()
	}

	// Listen first: -listen 127.0.0.1:0 picks a free port, and the public
	// URL must name the real one.
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("demo: %w (choose another address with -listen)", err)
	}
	listen = ln.Addr().String()
	var idp *demoOIDC
	if c.OIDC {
		fmt.Fprintln(stderr, "starting the demo identity provider ...")
		if idp, err = startDemoOIDC(ctx, dir, c.OIDCListen); err != nil {
			ln.Close()
			return fmt.Errorf("demo: identity provider: %w", err)
		}
		defer idp.op.Close()
	}
	env := map[string]string{
		"AWS_REGION":             srv.Region,
		"AWS_ACCESS_KEY_ID":      srv.AccessKey,
		"AWS_SECRET_ACCESS_KEY":  srv.SecretKey,
		"AWS_SESSION_TOKEN":      "",
		"AWS_ENDPOINT_URL_S3":    srv.Endpoint,
		"AWS_ENDPOINT_URL_STS":   srv.Endpoint,
		"SHARESVC_ROLE_ARN":      srv.RoleARN,
		"SHARESVC_BUCKET":        demoBucket,
		"SHARESVC_S3_PATH_STYLE": "true",
		"SHARESVC_DB":            filepath.Join(dir, "sharesvc.db"),
		"SHARESVC_LISTEN":        listen,
		// No load balancer to tell: Ctrl-C stops at once.
		"SHARESVC_SHUTDOWN_DRAIN": "0",
		// Every sharer may share anything in the demo bucket.
		"SHARESVC_DEFAULT_GRANT": "actions=download,upload,email",
		// The demo signs in with the tokens it prints.
		"SHARESVC_CONSOLE_TOKEN_SIGNIN": "on",
	}
	if mp != nil {
		// A fresh mail key each run: it seals the codes waiting in the
		// demo's mail queue.
		env["SHARESVC_SMTP_HOST"], env["SHARESVC_SMTP_PORT"], env["SHARESVC_SMTP_TLS"] = mp.SMTPHost, strconv.Itoa(mp.SMTPPort), "none"
		env["SHARESVC_SMTP_FROM"], env["SHARESVC_MAIL_KEY"] = "sharesvc demo <demo@sharesvc.example>", mail.NewKey()
	}
	if idp != nil {
		maps.Copy(env, idp.env())
	}
	demoEnv := func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return getenv(k)
	}
	settings, err := serveFlags(nil, demoEnv, stderr)
	if err != nil {
		ln.Close()
		return fmt.Errorf("demo: %w", err)
	}
	if idp != nil {
		idp.register(settings.OIDC.cfg.RedirectURL)
	}
	svc, err := newService(ctx, settings, demoEnv, io.Discard)
	if err != nil {
		ln.Close()
		return fmt.Errorf("demo: %w", err)
	}
	// The operators' routes (/metrics, the readiness report) on a private
	// port of their own, as serve does.
	if svc.metricsLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		ln.Close()
		svc.close()
		return fmt.Errorf("demo: metrics listener: %w", err)
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- svc.serve(sctx, ln) }()

	tokenName := fmt.Sprintf("demo-admin-%d", time.Now().Unix())
	token, err := createToken(ctx, settings.DB, tokenName, "admin", 24*time.Hour, "demo", time.Now())
	if err != nil {
		stop()
		<-served
		return fmt.Errorf("demo: %w", err)
	}
	client := &apiClient{base: settings.PublicURL, token: token}
	if idp != nil {
		if err := idp.grantStaff(ctx, client); err != nil {
			stop()
			<-served
			return fmt.Errorf("demo: %w", err)
		}
	}
	var l server.LinkResponse
	if err := client.do(ctx, "POST", "/api/v1/links", map[string]any{"key": demoKey, "expires_in": 86400, "note": "sharesvc demo"}, &l); err != nil {
		stop()
		<-served
		return fmt.Errorf("demo: create link: %w", err)
	}
	link := l.URL
	fmt.Fprintf(stdout, "%s\n", link)
	fmt.Fprintf(stderr, `
sharesvc is running at %s (database %s).
The link above opens %q in bucket %q through a
fresh presigned URL each time; try:

    curl -sSL '%s'

An admin token for the API (valid 24h) was created:

    export SHARESVC_TOKEN=%s
    curl -s -H "Authorization: Bearer $SHARESVC_TOKEN" -H 'Content-Type: application/json' \
         -d '{"key":"%s","expires_in":3600,"max_uses":3}' %s/api/v1/links

The web console is at %s/ui/ (sign in with the token above); metrics and
the readiness report at http://%s/metrics and http://%s/readyz.
`, settings.PublicURL, settings.DB, demoKey, demoBucket, link, token, demoKey, settings.PublicURL,
		settings.PublicURL, svc.metricsLn.Addr(), svc.metricsLn.Addr())
	if idp != nil {
		fmt.Fprintf(stderr, "%s\n(Its issuer is %s; the group staff may share %q in %q; the client secret is in %s.)\n",
			idp.signInLine(), idp.op.Issuer, demoOIDCPrefix, demoBucket, idp.secretFile)
	}
	fmt.Fprint(stderr, "\nPress Ctrl-C to stop.\n")
	if mp != nil {
		fmt.Fprintf(stderr, `
Sharing by email goes to a local SMTP server (Mailpit). Share with two
people, then read what they got (each has a link of their own):

    curl -s -H "Authorization: Bearer $SHARESVC_TOKEN" -H 'Content-Type: application/json' \
         -d '{"key":"%s","recipients":["ann@example.org","ben@example.org"],"notify":"you@example.org"}' %s/api/v1/links
    curl -s %s/api/v1/messages
`, demoKey, settings.PublicURL, mp.API)
	}

	if check {
		err := demoCheck(ctx, link, stderr)
		if err == nil && idp != nil {
			err = idp.check(ctx, settings.PublicURL, stderr)
		}
		stop()
		return errors.Join(err, <-served)
	}
	return <-served
}

// demoCheck follows the link like a browser would and compares the bytes.
func demoCheck(ctx context.Context, link string, stderr io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(b, []byte(demoBody)) {
		return fmt.Errorf("check: following the link gave %s and %d bytes, want 200 and the sample object", resp.Status, len(b))
	}
	fmt.Fprintln(stderr, "check: the link redirected to S3 and returned the sample object")
	return nil
}
