package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	const rev = "63df674c1a2b3c4d5e6f708192a3b4c5d6e7f809"
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "-trimpath", Value: "true"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	tests := []struct {
		name                  string
		bi                    *debug.BuildInfo
		ldVer, ldRev, ldDirty string
		want                  Info
	}{
		{"no build info", nil, "", "", "", Info{Version: "(devel)", GoVersion: runtime.Version()}},
		{"plain checkout build", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, "", "", "",
			Info{Version: "(devel)", GoVersion: "go1.26.8"}},
		{"go install of a release", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.0"}}, "", "", "",
			Info{Version: "v1.4.0", GoVersion: "go1.26.8"}},
		{"go build -buildvcs in a clone", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261130193055-63df674c1a2b+dirty"}, Settings: vcs(rev, "true")}, "", "", "",
			Info{Version: "v0.0.0-20261130193055-63df674c1a2b+dirty", Revision: rev, Modified: true, GoVersion: "go1.26.8"}},
		{"make build", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, "v1.4.0-2-g63df674", rev, "false",
			Info{Version: "v1.4.0-2-g63df674", Revision: rev, GoVersion: "go1.26.8"}},
		{"make build of a modified tree", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "false")}, "63df674-dirty", rev, "true",
			Info{Version: "63df674-dirty", Revision: rev, Modified: true, GoVersion: "go1.26.8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fromBuildInfo(tt.bi, tt.ldVer, tt.ldRev, tt.ldDirty); got != tt.want {
				t.Errorf("fromBuildInfo = %+v; want %+v", got, tt.want)
			}
		})
	}
}

func TestString(t *testing.T) {
	platform := runtime.GOOS + "/" + runtime.GOARCH
	tests := []struct {
		in   Info
		want string
	}{
		{Info{Version: "(devel)", GoVersion: "go1.26.8"},
			"sharesvc (devel)\nrevision unknown (built without VCS stamping)\ngo go1.26.8 " + platform + "\n"},
		{Info{Version: "v1.4.0", Revision: "63df674c", GoVersion: "go1.26.8"},
			"sharesvc v1.4.0\nrevision 63df674c\nmodified false\ngo go1.26.8 " + platform + "\n"},
		{Info{Version: "63df674-dirty", Revision: "63df674c", Modified: true, GoVersion: "go1.26.8"},
			"sharesvc 63df674-dirty\nrevision 63df674c\nmodified true\ngo go1.26.8 " + platform + "\n"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("%+v.String() =\n%s\nwant\n%s", tt.in, got, tt.want)
		}
	}
}

// The go command never stamps a test binary with VCS information: Read
// must say the revision is unknown rather than make one up.
func TestReadWithoutStamps(t *testing.T) {
	in := Read()
	if in.GoVersion != runtime.Version() {
		t.Errorf("Read().GoVersion = %q; want %q", in.GoVersion, runtime.Version())
	}
	if in.Revision != "" || !strings.Contains(in.String(), "\nrevision unknown (built without VCS stamping)\n") {
		t.Errorf("Read() = %+v, printed as %q; want no revision, said so", in, in.String())
	}
}
