package litestream_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/sharesvc/sharesvc/internal/testrig/litestream"
)

// The script that builds the binary pins the same version as the harness.
func TestScriptPinsVersion(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "..", "scripts", "litestream.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if want := `version="` + litestream.Version + `"`; !strings.Contains(string(b), want) {
		t.Fatalf("scripts/litestream.sh does not pin %s", want)
	}
}

// A missing binary is an error that says how to build it, never a skip.
func TestNewNamesMissingBinary(t *testing.T) {
	t.Setenv("SHARESVC_LITESTREAM", filepath.Join(t.TempDir(), "none"))
	_, err := litestream.New(t.TempDir(), "x.db", litestream.Replica{Bucket: "b", Path: "p"})
	if err == nil || !strings.Contains(err.Error(), "scripts/litestream.sh") {
		t.Fatalf("New without the binary = %v; want an error naming scripts/litestream.sh", err)
	}
}

// The example configuration in deploy/litestream parses, and names
// sharesvc's database with an S3 replica.
func TestDeployExample(t *testing.T) {
	bin, err := litestream.BinaryPath()
	if err != nil {
		t.Fatal(err)
	}
	_, file, _, _ := runtime.Caller(0)
	example := filepath.Join(filepath.Dir(file), "..", "..", "..", "deploy", "litestream", "litestream.yml")
	out, err := exec.Command(bin, "databases", "-no-expand-env", "-json", "-config", example).CombinedOutput()
	if err != nil {
		t.Fatalf("litestream databases -config %s: %v\n%s (run scripts/litestream.sh to build the binary)", example, err, out)
	}
	var dbs []struct {
		Path    string `json:"path"`
		Replica string `json:"replica"`
	}
	if err := json.Unmarshal(out, &dbs); err != nil {
		t.Fatalf("litestream databases -json: %v\n%s", err, out)
	}
	if len(dbs) != 1 || dbs[0].Path != "/var/lib/sharesvc/sharesvc.db" || dbs[0].Replica != "s3" {
		t.Fatalf("the example replicates %+v; want /var/lib/sharesvc/sharesvc.db to s3", dbs)
	}
}
