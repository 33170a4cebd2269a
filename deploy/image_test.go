package deploy_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/x509"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ociManifest and ociConfig are the parts of an OCI image the test reads.
type ociManifest struct {
	Config      struct{ Digest string }
	Layers      []struct{ MediaType, Digest string }
	Annotations map[string]string
}

type ociConfig struct {
	Config struct {
		User       string
		Env        []string
		Entrypoint []string
		Cmd        []string
		Volumes    map[string]struct{}
		Labels     map[string]string
	}
}

// entry is a file of the image's root file system, as the layers say.
type entry struct {
	mode     os.FileMode
	uid, gid int
}

// TestImage builds the image with `make image`, exports it as an OCI
// archive, unpacks its layers and checks what runs in production: a static
// binary that prints HEAD's revision, CA certificates, a non-root user who
// owns the state directory, and labels carrying the version.
func TestImage(t *testing.T) {
	buildah := need(t, "buildah", "buildah")
	rev, _ := head(t)
	describe := git(t, "describe", "--tags", "--always", "--dirty")
	created := time.Unix(int64(mustInt(t, git(t, "log", "-1", "--format=%ct"))), 0).UTC().Format(time.RFC3339)

	dir := t.TempDir()
	name := fmt.Sprintf("localhost/sharesvc-test:%d", os.Getpid())
	start := time.Now()
	err := makeTarget("image", "BIN="+filepath.Join(dir, "sharesvc"), "IMAGE_CONTEXT="+filepath.Join(dir, "context"), "IMAGE="+name)
	t.Cleanup(func() { exec.Command(buildah, "rmi", "--force", name).Run() })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("make image: %v", time.Since(start).Round(time.Millisecond))
	archive := filepath.Join(dir, "image.tar")
	if out, err := exec.Command(buildah, "push", "--quiet", name, "oci-archive:"+archive).CombinedOutput(); err != nil {
		t.Fatalf("buildah push: %v\n%s", err, out)
	}

	blobs := readTar(t, archive)
	var index struct{ Manifests []struct{ Digest string } }
	unmarshal(t, blobs["index.json"], &index)
	if len(index.Manifests) != 1 {
		t.Fatalf("index.json lists %d manifests; want 1", len(index.Manifests))
	}
	var man ociManifest
	unmarshal(t, blob(t, blobs, index.Manifests[0].Digest), &man)
	var cfg ociConfig
	unmarshal(t, blob(t, blobs, man.Config.Digest), &cfg)

	want := map[string]string{
		"org.opencontainers.image.version":  describe,
		"org.opencontainers.image.revision": rev,
		"org.opencontainers.image.created":  created,
		"org.opencontainers.image.source":   "https://github.com/sharesvc/sharesvc",
	}
	for k, v := range want {
		if got := cfg.Config.Labels[k]; got != v {
			t.Errorf("label %s = %q; want %q", k, got, v)
		}
		if got := man.Annotations[k]; got != v {
			t.Errorf("annotation %s = %q; want %q", k, got, v)
		}
	}

	uid, gid, ok := strings.Cut(cfg.Config.User, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 || !ok {
		t.Fatalf("image User = %q; want a numeric non-root uid:gid", cfg.Config.User)
	}
	if got := strings.Join(append(cfg.Config.Entrypoint, cfg.Config.Cmd...), " "); got != "/usr/local/bin/sharesvc serve" {
		t.Errorf("image runs %q; want /usr/local/bin/sharesvc serve", got)
	}
	if _, ok := cfg.Config.Volumes["/var/lib/sharesvc"]; !ok {
		t.Errorf("image volumes = %v; want /var/lib/sharesvc", cfg.Config.Volumes)
	}
	if !containsString(cfg.Config.Env, "SHARESVC_DB=/var/lib/sharesvc/sharesvc.db") {
		t.Errorf("image env = %v; want the database in the volume", cfg.Config.Env)
	}

	rootfs := filepath.Join(dir, "rootfs")
	files := map[string]entry{}
	for _, l := range man.Layers {
		if !strings.HasSuffix(l.MediaType, "tar+gzip") {
			t.Fatalf("layer %s is %s; want tar+gzip", l.Digest, l.MediaType)
		}
		unpack(t, blob(t, blobs, l.Digest), rootfs, files)
	}

	// The state directory belongs to the image's user, only; /tmp is sticky.
	for path, want := range map[string]entry{
		"var/lib/sharesvc": {mode: os.ModeDir | 0o700, uid: mustInt(t, uid), gid: mustInt(t, gid)},
		"tmp":              {mode: os.ModeDir | os.ModeSticky | 0o777},
	} {
		if got, ok := files[path]; !ok || got != want {
			t.Errorf("/%s in the image = %+v (present %t); want %+v", path, got, ok, want)
		}
	}

	pem, err := os.ReadFile(filepath.Join(rootfs, "etc/ssl/certs/ca-certificates.crt"))
	if err != nil {
		t.Fatalf("CA certificates: %v", err)
	}
	if pool := x509.NewCertPool(); !pool.AppendCertsFromPEM(pem) || bytes.Count(pem, []byte("BEGIN CERTIFICATE")) < 10 {
		t.Errorf("/etc/ssl/certs/ca-certificates.crt holds %d certificates; want the system's", bytes.Count(pem, []byte("BEGIN CERTIFICATE")))
	}

	bin := filepath.Join(rootfs, "usr/local/bin/sharesvc")
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the image's sharesvc has a %v segment; want a static binary", p.Type)
		}
	}
	got := runVersion(t, bin)
	if !strings.HasPrefix(got, "sharesvc "+describe+"\n") || !strings.Contains(got, "\nrevision "+rev+"\n") {
		t.Errorf("the image's sharesvc version = %q; want %s at %s", got, describe, rev)
	}
	if st, err := os.Stat(bin); err == nil {
		t.Logf("binary %.1f MiB; image layers %.1f MiB compressed", float64(st.Size())/(1<<20), float64(layerBytes(blobs, man))/(1<<20))
	}
}

func mustInt(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func layerBytes(blobs map[string][]byte, man ociManifest) int {
	n := 0
	for _, l := range man.Layers {
		n += len(blobs["blobs/"+strings.Replace(l.Digest, ":", "/", 1)])
	}
	return n
}

// readTar returns every regular file of a tar archive by name.
func readTar(t *testing.T, name string) map[string][]byte {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[strings.TrimPrefix(h.Name, "./")] = b
		}
	}
}

// blob returns the archive's blob of digest "sha256:…".
func blob(t *testing.T, blobs map[string][]byte, digest string) []byte {
	t.Helper()
	b, ok := blobs["blobs/"+strings.Replace(digest, ":", "/", 1)]
	if !ok {
		t.Fatalf("the archive has no blob %s", digest)
	}
	return b
}

func unmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v in %.200s", err, b)
	}
}

// unpack extracts a gzipped layer into dir (as the caller's user, whatever
// the owners) and records each entry's mode and owner in files.
func unpack(t *testing.T, layer []byte, dir string, files map[string]entry) {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(layer))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Clean(h.Name)
		if strings.HasPrefix(name, "..") || filepath.IsAbs(name) || strings.HasPrefix(filepath.Base(name), ".wh.") {
			t.Fatalf("layer entry %q: want plain paths and no whiteouts in a one-stage scratch image", h.Name)
		}
		files[name] = entry{mode: h.FileInfo().Mode(), uid: h.Uid, gid: h.Gid}
		path := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(path, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b, h.FileInfo().Mode().Perm()); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("layer entry %q has type %c; want only files and directories", h.Name, h.Typeflag)
		}
	}
}
