package version

import (
	"runtime"
	"testing"
)

func TestGet(t *testing.T) {
	Version, Revision = "v1.2.3", "abc123"
	defer func() { Version, Revision = "dev", "" }()
	got := Get()
	if got != (Info{Version: "v1.2.3", Revision: "abc123", GoVersion: runtime.Version()}) {
		t.Fatalf("Get = %+v", got)
	}
	if got.String() != "v1.2.3 (abc123, "+runtime.Version()+")" {
		t.Errorf("String = %q", got.String())
	}
	Revision = ""
	if Get().Revision == "" {
		t.Error("unstamped revision is empty, want a fallback")
	}
}
