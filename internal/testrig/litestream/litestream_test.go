package litestream_test

import (
	"os"
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
