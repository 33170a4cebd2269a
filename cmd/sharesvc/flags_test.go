package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/alecthomas/kong"
)

// commandPaths returns every command of the tree ("" for the program
// itself, "link show", …) and every variable a flag reads.
func commandPaths(t *testing.T) (paths []string, vars []string) {
	t.Helper()
	var c cli
	p, err := newParser(&c, func(string) string { return "" }, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var walk func(n *kong.Node, path string)
	walk = func(n *kong.Node, path string) {
		paths = append(paths, path)
		for _, f := range n.Flags {
			if v := f.Tag.Get("envvar"); v != "" && !seen[v] {
				seen[v] = true
				vars = append(vars, v)
			}
		}
		for _, ch := range n.Children {
			if ch.Type == kong.CommandNode {
				walk(ch, strings.TrimSpace(path+" "+ch.Name))
			}
		}
	}
	walk(p.Model.Node, "")
	return paths, vars
}

// secretEnv sets every variable a flag reads, and the secrets that are
// never flags, to a value of its own, and returns them with the values.
func secretEnv(vars []string) (map[string]string, []string) {
	env := map[string]string{}
	for _, v := range append(vars, "SHARESVC_SMTP_PASSWORD", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID") {
		env[v] = "zq" + strings.ToLower(strings.ReplaceAll(v, "_", "")) + "x9"
	}
	// The secrets as they look in real life, long enough to pass a first
	// glance; none may ever be printed.
	env["SHARESVC_TOKEN"] = "sst_SECRETtoken0123456789abcdef"
	env["SHARESVC_MAIL_KEY"] = "5ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7"
	env["SHARESVC_AUDIT_IP_KEY"] = "a11a11a11a11a11a11a11a11a11a11a11a11"
	env["SHARESVC_SMTP_PASSWORD"] = "smtp-PASSWORD-hunter2"
	values := make([]string, 0, len(env))
	for _, v := range env {
		values = append(values, v)
	}
	return env, values
}

// Usage, help and errors never show the value of a variable: with every
// variable set, -h, --help and a bad flag of every command, and settings
// that fail to parse or validate, print only names.
func TestHelpAndErrorsShowNoVariableValues(t *testing.T) {
	paths, vars := commandPaths(t)
	for _, want := range []string{"SHARESVC_TOKEN", "SHARESVC_MAIL_KEY", "SHARESVC_AUDIT_IP_KEY", "SHARESVC_URL", "SHARESVC_DB", "SHARESVC_CHECKPOINT_KEY"} {
		if !strings.Contains(" "+strings.Join(vars, " ")+" ", " "+want+" ") {
			t.Fatalf("no flag reads %s; flags read %v", want, vars)
		}
	}
	env, values := secretEnv(vars)
	check := func(t *testing.T, args []string, wantErr bool) {
		t.Helper()
		var out, errb bytes.Buffer
		err := run(context.Background(), args, getenvFrom(env), &out, &errb)
		if wantErr && err == nil {
			t.Fatalf("sharesvc %s succeeded; want an error", strings.Join(args, " "))
		}
		text := out.String() + errb.String()
		if err != nil {
			text += err.Error()
		}
		if strings.TrimSpace(text) == "" {
			t.Fatalf("sharesvc %s printed nothing", strings.Join(args, " "))
		}
		for _, v := range values {
			if strings.Contains(text, v) {
				t.Errorf("sharesvc %s shows the value %q of a variable:\n%s", strings.Join(args, " "), v, text)
			}
		}
	}
	for _, path := range paths {
		cmd := strings.Fields(path)
		for _, tail := range [][]string{{"-h"}, {"--help"}, {"-help"}} {
			t.Run(strings.Join(append(cmd, tail...), " "), func(t *testing.T) {
				check(t, append(cmd, tail...), false)
			})
		}
		for _, tail := range [][]string{{"--no-such-flag"}, {"-no-such-flag", "x"}} {
			t.Run(strings.Join(append(cmd, tail...), " "), func(t *testing.T) {
				check(t, append(cmd, tail...), true)
			})
		}
	}
	t.Run("no arguments", func(t *testing.T) { check(t, nil, true) })
	t.Run("help serve", func(t *testing.T) { check(t, []string{"help", "serve"}, false) })
	// Variables that do not parse, and settings that fail validation.
	t.Run("serve with bad variables", func(t *testing.T) { check(t, []string{"serve"}, true) })
	secrets := map[string]string{"SHARESVC_ROLE_ARN": "arn:aws:iam::123456789012:role/x"}
	for _, v := range []string{"SHARESVC_TOKEN", "SHARESVC_MAIL_KEY", "SHARESVC_AUDIT_IP_KEY", "SHARESVC_SMTP_PASSWORD",
		"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID"} {
		secrets[v] = env[v]
	}
	for _, tc := range []struct {
		bad  map[string]string
		want string
	}{
		{map[string]string{"SHARESVC_ROLE_ARN": ""}, "SHARESVC_ROLE_ARN"},
		{map[string]string{"SHARESVC_PRESIGN_TTL": env["SHARESVC_TOKEN"]}, "SHARESVC_PRESIGN_TTL"},
		{map[string]string{"SHARESVC_MAX_USES": env["SHARESVC_TOKEN"]}, "SHARESVC_MAX_USES"},
		{map[string]string{"SHARESVC_S3_PATH_STYLE": env["SHARESVC_MAIL_KEY"]}, "SHARESVC_S3_PATH_STYLE"},
		{map[string]string{"SHARESVC_RATE_IP": env["SHARESVC_MAIL_KEY"]}, "SHARESVC_RATE_IP"},
		{map[string]string{"SHARESVC_TRUSTED_PROXIES": env["SHARESVC_AUDIT_IP_KEY"]}, "SHARESVC_TRUSTED_PROXIES"},
		{map[string]string{"SHARESVC_SMTP_HOST": "smtp.example.org", "SHARESVC_SMTP_FROM": "files@example.org",
			"SHARESVC_SMTP_USER": "u", "SHARESVC_SMTP_PASSWORD_FILE": "/x"}, "SHARESVC_SMTP_PASSWORD"},
	} {
		var out, errb bytes.Buffer
		err := run(context.Background(), []string{"serve"}, getenvFrom(withEnv(secrets, tc.bad)), &out, &errb)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("serve with %v = %v; want an error naming %s", tc.bad, err, tc.want)
		}
		for _, v := range values {
			if strings.Contains(out.String()+errb.String()+err.Error(), v) {
				t.Errorf("serve with %v shows %q: %v\n%s", tc.bad, v, err, errb.String())
			}
		}
	}
	// Key material that is neither a key nor a file: the error names the
	// setting, not the (mistyped) key.
	ipKey := "0123456789abcdef0123456789abcdeZ" // one digit wrong
	if _, err := (&auditSettings{IPMode: "hash", IPKey: ipKey}).ipPrivacy(); err == nil || strings.Contains(err.Error(), ipKey) {
		t.Errorf("ipPrivacy with a mistyped key = %v; want an error without the key", err)
	}
	mailKey := strings.Repeat("ab", 31) + "aZ"
	m := &mailSettings{Host: "h", From: "f@x.org", Key: mailKey}
	if _, err := m.build(nil, nil, "http://share.example", slog.New(slog.DiscardHandler), nil, nil); err == nil || strings.Contains(err.Error(), mailKey) {
		t.Errorf("mail build with a mistyped key = %v; want an error without the key", err)
	}
}

// Flags may follow arguments, and the single dash of earlier releases
// still works for long flags.
func TestFlagsAfterArguments(t *testing.T) {
	var got []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/v1/links/lnk_abc":
			io.WriteString(w, `{"id":"lnk_abc","kind":"download","state":"live","bucket":"b","key":"k","uses":1,"max_uses":3}`)
		case "/api/v1/links/lnk_abc/revoke":
			io.WriteString(w, `{"id":"lnk_abc","bucket":"b","key":"k","presign_ttl":60}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer api.Close()
	env := map[string]string{"SHARESVC_URL": api.URL, "SHARESVC_TOKEN": "sst_t"}
	for _, args := range [][]string{
		{"link", "show", "lnk_abc", "--json"},
		{"link", "show", "lnk_abc", "-json"},
		{"link", "show", "--json", "lnk_abc"},
		{"link", "show", "lnk_abc", "--json", "--url", api.URL},
		{"link", "show", "lnk_abc", "-json", "-url=" + api.URL},
	} {
		got = nil
		out := runCLI(t, env, args...)
		if !strings.Contains(out, `"id": "lnk_abc"`) || len(got) != 1 || got[0] != "GET /api/v1/links/lnk_abc Bearer sst_t" {
			t.Errorf("sharesvc %s = %q, requests %q; want the link as JSON from one GET", strings.Join(args, " "), out, got)
		}
	}
	if out := runCLI(t, env, "link", "revoke", "lnk_abc", "--reason", "typo", "--json"); !strings.Contains(out, `"presign_ttl": 60`) {
		t.Errorf("link revoke ID --reason --json = %q; want JSON", out)
	}

	dir := t.TempDir()
	s, err := serveFlags([]string{"-listen", "127.0.0.1:9999", "-db=" + filepath.Join(dir, "a.db"), "--rate-ip", "off", "-s3-path-style"},
		getenvFrom(map[string]string{"SHARESVC_ROLE_ARN": "arn:aws:iam::123456789012:role/x", "SHARESVC_LISTEN": "127.0.0.1:1"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if s.Listen != "127.0.0.1:9999" || s.DB != filepath.Join(dir, "a.db") || !s.RateIP.Off() || !s.PathStyle {
		t.Errorf("serve -listen -db= --rate-ip -s3-path-style = %+v", s)
	}
	if _, err := serveFlags([]string{"extra"}, getenvFrom(map[string]string{"SHARESVC_ROLE_ARN": "arn:x"}), io.Discard); err == nil {
		t.Error("serve with an argument succeeded; want a usage error")
	}
}

// The database a command creates, and the directory it creates for it, are
// the owner's alone under the usual umask. (A SQLite file whatever the
// run's engine: file modes are the embedded engine's matter.)
func TestDatabaseFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
	dir := filepath.Join(t.TempDir(), "state")
	path := filepath.Join(dir, "sharesvc.db")
	runCLI(t, map[string]string{"SHARESVC_DB": path}, "token", "create", "--role", "admin", "--name", "root")
	for name, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, path: 0o600} {
		if fi, err := os.Stat(name); err != nil || fi.Mode() != want {
			t.Errorf("%s: %v, %v; want mode %v", name, fi.Mode(), err, want)
		}
	}
	out := filepath.Join(dir, "export.jsonl")
	if _, _, err := runErr("audit", "export", "--db", path, "--out", out); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode() != 0o600 {
		t.Errorf("audit export --out: %v, %v; want mode 0600", fi.Mode(), err)
	}
}

// The completion scripts offer the commands and flags of the tree; the
// bash one is run by bash.
func TestCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatalf("bash is required: %v", err)
	}
	script := filepath.Join(t.TempDir(), "sharesvc.bash")
	if err := os.WriteFile(script, []byte(runCLI(t, nil, "completion", "bash")), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		line string // the words typed, the last one being completed
		want string
	}{
		{"sharesvc l", "link"},
		{"sharesvc link s", "show"},
		{"sharesvc link show lnk_1 --j", "--json"},
		{"sharesvc -h audit li", "list"},
		{"sharesvc audit list --db x.db --li", "--limit --link-id"},
		{"sharesvc serve -mail-k", "--mail-key"},
		{"sharesvc killswitch ", "on off status"},
		{"sharesvc completion --", "--help"},
	} {
		words := strings.Split(tc.line, " ")
		cmd := exec.Command(bash, "--norc", "--noprofile", "-c",
			`source "$0"; COMP_WORDS=($1); [[ $1 == *" " ]] && COMP_WORDS+=(""); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); _sharesvc; echo "${COMPREPLY[*]}"`,
			script, tc.line)
		out, err := cmd.CombinedOutput()
		if got := strings.TrimSpace(string(out)); err != nil || got != tc.want {
			t.Errorf("completing %q (%d words) = %q, %v; want %q", tc.line, len(words), got, err, tc.want)
		}
	}
	for _, shell := range []string{"zsh", "fish"} {
		if out := runCLI(t, nil, "completion", shell); !strings.Contains(out, "sharesvc") || !strings.Contains(out, "revoke") {
			t.Errorf("completion %s = %q; want a script naming the commands", shell, out)
		}
	}
	if _, _, err := runErr("completion", "tcsh"); err == nil {
		t.Error("completion tcsh succeeded; want an error naming the shells")
	}
}
