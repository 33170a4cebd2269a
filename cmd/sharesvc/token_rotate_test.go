package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sharesvc/sharesvc/internal/server"
)

// token create --display-name --email names the person; token rotate NAME
// prints a new secret under the same name and the old one stops working.
func TestTokenRotateCLI(t *testing.T) {
	const bucket = "cli-rotate"
	s3 := startS3(t, bucket)
	env := s3env(s3, bucket, "")
	serveDB(t, env)
	admin := strings.TrimSpace(runCLI(t, env, "token", "create", "--role", "admin", "--name", "root"))
	_, base, stop := startService(t, env)
	t.Cleanup(stop)
	env["SHARESVC_URL"] = base
	env["SHARESVC_TOKEN"] = admin

	old := strings.TrimSpace(runCLI(t, env, "token", "create", "--role", "sharer", "--name", "alice",
		"--display-name", "Alice Example", "--email", "alice@corp.example"))
	var listed []server.TokenResponse
	if err := json.Unmarshal([]byte(runCLI(t, env, "token", "list", "--json")), &listed); err != nil {
		t.Fatal(err)
	}
	var id string
	for _, tk := range listed {
		if tk.Name == "alice" {
			id = tk.ID
			if tk.DisplayName != "Alice Example" || tk.Email != "alice@corp.example" {
				t.Fatalf("alice = %+v; want the display name and address", tk)
			}
		}
	}
	if _, _, err := runCLIErr(env, "token", "create", "--role", "sharer", "--name", "mallory", "--display-name", "M\r\nBcc: x@y.org"); err == nil {
		t.Fatal("a display name with a line break was accepted")
	}

	fresh := strings.TrimSpace(runCLI(t, env, "token", "rotate", "alice", "--reason", "laptop lost"))
	if !strings.HasPrefix(fresh, "sst_") || fresh == old {
		t.Fatalf("token rotate printed %q; want a new secret", fresh)
	}
	oldEnv := map[string]string{"SHARESVC_URL": base, "SHARESVC_TOKEN": old}
	if err := run(context.Background(), []string{"link", "list"}, getenvFrom(oldEnv), &bytes.Buffer{}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("the old secret: %v; want a 401 error", err)
	}
	newEnv := map[string]string{"SHARESVC_URL": base, "SHARESVC_TOKEN": fresh}
	runCLI(t, newEnv, "link", "list")
	var after []server.TokenResponse
	json.Unmarshal([]byte(runCLI(t, env, "token", "list", "--json")), &after)
	for _, tk := range after {
		if tk.Name == "alice" && tk.ID != id {
			t.Fatalf("rotation changed the token id %s to %s", id, tk.ID)
		}
	}
	if _, _, err := runCLIErr(env, "token", "rotate", "nobody"); err == nil {
		t.Fatal("rotating an unknown name succeeded")
	}
}
