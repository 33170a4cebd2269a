// Package buildinfo says which build of sharesvc is running: the module
// version, the VCS revision and whether the working tree had uncommitted
// changes, and the Go version. `sharesvc version` and the
// sharesvc_build_info metric both read Read, so they never disagree.
//
// The go command records the revision itself (-buildvcs) only in a plain git
// clone, not in a git worktree, and not when GOFLAGS says -buildvcs=false;
// `make build` therefore stamps it with -ldflags -X (see the Makefile), and
// Read falls back to those values when the build info has none.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Set with -ldflags "-X github.com/sharesvc/sharesvc/internal/buildinfo.name=value"
// by `make build`; empty in a build without them.
var (
	version  string // git describe --tags --always --dirty
	revision string // full commit hash
	modified string // "true" when the tree had uncommitted changes to tracked files
)

// Info describes one build.
type Info struct {
	// Version is the release: the git description make stamped (v1.2.3, or
	// v1.2.3-4-gabcdef0-dirty between tags), else the module version the go
	// command recorded (v1.2.3 from go install …@v1.2.3, "(devel)" from a
	// checkout).
	Version string
	// Revision is the full commit hash, or "" when the build recorded none.
	Revision string
	// Modified is true when the tree had uncommitted changes (only meaningful
	// when Revision is set).
	Modified bool
	// GoVersion is the toolchain that built the binary, e.g. "go1.26.8".
	GoVersion string
}

// Read returns the running binary's build information.
func Read() Info {
	bi, _ := debug.ReadBuildInfo()
	return fromBuildInfo(bi, version, revision, modified)
}

// fromBuildInfo reads the go command's build information; values stamped
// through -ldflags, which make sets on purpose, win over it.
func fromBuildInfo(bi *debug.BuildInfo, ldVersion, ldRevision, ldModified string) Info {
	in := Info{Version: "(devel)", GoVersion: runtime.Version()}
	if bi != nil {
		if bi.GoVersion != "" {
			in.GoVersion = bi.GoVersion
		}
		if bi.Main.Version != "" {
			in.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				in.Revision = s.Value
			case "vcs.modified":
				in.Modified = s.Value == "true"
			}
		}
	}
	if ldVersion != "" {
		in.Version = ldVersion
	}
	if ldRevision != "" {
		in.Revision, in.Modified = ldRevision, ldModified == "true"
	}
	return in
}

// String is what `sharesvc version` prints: the version, then the revision
// (or that none was recorded) and the Go version, one per line.
func (in Info) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sharesvc %s\n", in.Version)
	if in.Revision == "" {
		b.WriteString("revision unknown (built without VCS stamping)\n")
	} else {
		fmt.Fprintf(&b, "revision %s\nmodified %t\n", in.Revision, in.Modified)
	}
	fmt.Fprintf(&b, "go %s %s/%s\n", in.GoVersion, runtime.GOOS, runtime.GOARCH)
	return b.String()
}
