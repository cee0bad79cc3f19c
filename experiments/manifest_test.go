package experiments

import "testing"

func TestToolString(t *testing.T) {
	// The resume note prints both builds; an unstamped build must not leave
	// a dangling blank where the revision goes.
	for _, c := range []struct {
		tool Tool
		want string
	}{
		{Tool{Version: "0.1.0-dev"}, "0.1.0-dev (unknown revision)"},
		{Tool{Version: "0.1.0-dev", Revision: "abc+dirty"}, "0.1.0-dev (abc+dirty)"},
	} {
		if got := c.tool.String(); got != c.want {
			t.Errorf("%+v.String() = %q, want %q", c.tool, got, c.want)
		}
	}
}
