// Package version holds the build's version, stamped at link time:
//
//	go build -ldflags "-X flotilla.io/sdk/version.Version=v0.3.0 -X flotilla.io/sdk/version.Revision=$(git rev-parse --short HEAD)"
package version

import (
	"runtime"
	"runtime/debug"
)

// Set by -ldflags -X; the defaults mark an unstamped developer build.
var (
	Version  = "dev"
	Revision = ""
)

// Info is what /version serves and `flotctl version` prints.
type Info struct {
	Version   string `json:"version"`
	Revision  string `json:"revision"`
	GoVersion string `json:"goVersion"`
}

// Get returns the build's version. An unstamped revision falls back to the
// VCS revision Go embeds when building from a checkout.
func Get() Info {
	rev := Revision
	if rev == "" {
		rev = "unknown"
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" && s.Value != "" {
					rev = s.Value
				}
			}
		}
	}
	return Info{Version: Version, Revision: rev, GoVersion: runtime.Version()}
}

func (i Info) String() string { return i.Version + " (" + i.Revision + ", " + i.GoVersion + ")" }
