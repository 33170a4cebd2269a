// Package localtool holds what the local servers that the tests and the
// demo start (SeaweedFS for S3+STS, Mailpit for SMTP) have in common: where
// scripts/toolcache.sh caches their binaries, and tying each server's life
// to the process that started it.
package localtool

import (
	"fmt"
	"os"
	"path/filepath"
)

// CachedBinary returns the path of a cached tool binary: the value of
// envVar when set, else ${XDG_CACHE_HOME:-$HOME/.cache}/sharesvc/file, as
// scripts/toolcache.sh lays it out. It does not build.
func CachedBinary(envVar, file string) (string, error) {
	if p := os.Getenv(envVar); p != "" {
		return p, nil
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no XDG_CACHE_HOME and no home directory: %w (set %s)", err, envVar)
		}
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "sharesvc", file), nil
}
