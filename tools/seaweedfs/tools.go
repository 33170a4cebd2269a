//go:build tools

// Package tools records the SeaweedFS command built by scripts/seaweedfs.sh.
package tools

import _ "github.com/seaweedfs/seaweedfs/weed"
