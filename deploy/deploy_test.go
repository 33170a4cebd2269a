// Package deploy_test checks what ships to production: the binary `make
// build` stamps, the container image `make image` builds, and the systemd
// unit with its env file. The tools are installed by `make test`
// (deploytools); a missing one fails the test, never skips it.
package deploy_test

import (
	"bytes"
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
)

const root = ".."

var (
	stampedOnce sync.Once
	stampedDir  string
	stampedErr  error
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if stampedDir != "" {
		os.RemoveAll(stampedDir)
	}
	os.Exit(code)
}

// stamped returns a binary built by `make build`, once per test run.
func stamped(t *testing.T) string {
	t.Helper()
	stampedOnce.Do(func() {
		if stampedDir, stampedErr = os.MkdirTemp("", "sharesvc-deploy-"); stampedErr != nil {
			return
		}
		stampedErr = makeTarget("build", "BIN="+filepath.Join(stampedDir, "sharesvc"))
	})
	if stampedErr != nil {
		t.Fatal(stampedErr)
	}
	return filepath.Join(stampedDir, "sharesvc")
}

// makeTarget runs make in the repository root.
func makeTarget(target string, vars ...string) error {
	args := append([]string{"--no-print-directory", "-C", root, target}, vars...)
	out, err := exec.Command("make", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("make %s: %v\n%s", strings.Join(args[3:], " "), err, out)
	}
	return nil
}

// need returns the path of a tool `make test` installs.
func need(t *testing.T, tool, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		t.Fatalf("%s is required: `make test` installs it (apt-get install %s)", tool, pkg)
	}
	return p
}

// git runs git in the repository and returns its trimmed output.
func git(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}

// head is the commit the tests run on and whether tracked files differ from it.
func head(t *testing.T) (rev string, modified bool) {
	t.Helper()
	return git(t, "rev-parse", "HEAD"), git(t, "status", "--porcelain", "--untracked-files=no") != ""
}

func runVersion(t *testing.T, bin string) string {
	t.Helper()
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s version: %v\n%s", bin, err, out)
	}
	return string(out)
}

func TestMakeBuildStampsRevision(t *testing.T) {
	rev, modified := head(t)
	got := runVersion(t, stamped(t))
	for _, want := range []string{
		"sharesvc " + git(t, "describe", "--tags", "--always", "--dirty") + "\n",
		"\nrevision " + rev + "\n",
		fmt.Sprintf("\nmodified %t\n", modified),
		"\ngo " + runtime.Version() + " ",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("sharesvc version = %q; want it to contain %q", got, want)
		}
	}
}

// Built again, elsewhere, the same commit gives the same bytes.
func TestMakeBuildIsReproducible(t *testing.T) {
	first := stamped(t)
	second := filepath.Join(t.TempDir(), "again", "sharesvc")
	if err := makeTarget("build", "BIN="+second); err != nil {
		t.Fatal(err)
	}
	a, b := sha256File(t, first), sha256File(t, second)
	if a != b {
		t.Errorf("two builds of one commit differ: sha256 %x and %x", a, b)
	}
}

func sha256File(t *testing.T, name string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// A build without make's stamp (this machine's GOFLAGS=-buildvcs=false, or
// a git worktree) says it does not know its revision.
func TestPlainBuildSaysRevisionUnknown(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "sharesvc")
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-o", bin, "./cmd/sharesvc")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	got := runVersion(t, bin)
	if !strings.Contains(got, "\nrevision unknown (built without VCS stamping)\n") || strings.Contains(got, "modified") {
		t.Errorf("sharesvc version of a plain build = %q; want it to say the revision is unknown", got)
	}
	if rev, _ := head(t); strings.Contains(got, rev[:7]) {
		t.Errorf("sharesvc version of a plain build = %q; it names HEAD (%s) without a stamp", got, rev)
	}
}

// serveVars are the SHARESVC_* variables `sharesvc serve --help` names.
func serveVars(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command(stamped(t), "serve", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("sharesvc serve --help: %v\n%s", err, out)
	}
	seen := map[string]bool{}
	var vars []string
	for _, m := range regexp.MustCompile(`\$(SHARESVC_[A-Z0-9_]+)`).FindAllStringSubmatch(string(out), -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			vars = append(vars, m[1])
		}
	}
	if len(vars) < 40 {
		t.Fatalf("serve --help names %d variables; want every setting (%v)", len(vars), vars)
	}
	return vars
}

func TestEnvExampleNamesEverySetting(t *testing.T) {
	raw, err := os.ReadFile("systemd/sharesvc.env.example")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for line := range strings.Lines(string(raw)) {
		if m := regexp.MustCompile(`^#?([A-Z][A-Z0-9_]*)=`).FindStringSubmatch(line); m != nil {
			listed[m[1]] = true
		}
	}
	for _, v := range append(serveVars(t), "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
		"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_STS") {
		if !listed[v] {
			t.Errorf("sharesvc.env.example does not list %s", v)
		}
	}
	// Values are taken literally by podman --env-file.
	for line := range strings.Lines(string(raw)) {
		if strings.HasPrefix(line, "export ") || regexp.MustCompile(`^#?[A-Z0-9_]+=["']`).MatchString(line) {
			t.Errorf("sharesvc.env.example: %q: no export, no quotes", strings.TrimSpace(line))
		}
	}
}

// unitWithBinary is the shipped unit with ExecStart pointed at an
// executable that exists here, as systemd-analyze verify requires.
func unitWithBinary(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("systemd/sharesvc.service")
	if err != nil {
		t.Fatal(err)
	}
	const exec = "ExecStart=/usr/local/bin/sharesvc serve\n"
	if strings.Count(string(raw), exec) != 1 {
		t.Fatalf("sharesvc.service does not have %q once", exec)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "sharesvc")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(dir, "sharesvc.service")
	if err := os.WriteFile(unit, bytes.Replace(raw, []byte(exec), []byte("ExecStart="+bin+" serve\n"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	return unit
}

// systemd-analyze verify exits 0 on unknown keys and values it cannot
// parse, only saying so: any output is a failure.
func TestSystemdUnitVerifies(t *testing.T) {
	sa := need(t, "systemd-analyze", "systemd")
	unit := unitWithBinary(t)
	cmd := exec.Command(sa, "verify", "--man=no", unit)
	cmd.Dir = filepath.Dir(unit)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify sharesvc.service: %v\n%s", err, out)
	}
}

// maxExposure is the highest overall exposure `systemd-analyze security`
// may give the unit (0 is the most locked down, 10 the least).
const maxExposure = 2.0

func TestSystemdUnitExposure(t *testing.T) {
	sa := need(t, "systemd-analyze", "systemd")
	out, _ := exec.Command(sa, "security", "--offline=true", "--no-pager", "systemd/sharesvc.service").CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for sharesvc\.service: ([0-9]+\.[0-9]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security printed no overall exposure:\n%s", out)
	}
	var score float64
	if _, err := fmt.Sscan(string(m[1]), &score); err != nil {
		t.Fatal(err)
	}
	t.Logf("exposure %.1f", score)
	if score >= maxExposure {
		t.Errorf("sharesvc.service exposure = %.1f; want below %.1f\n%s", score, maxExposure, out)
	}
}
