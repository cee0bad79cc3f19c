package crashpoint

import (
	"os"
	"os/exec"
	"testing"
)

// TestHitKills re-runs this test binary with a point armed: it must die by
// SIGKILL at the second visit, not before, and a run without the variable
// must not die.
func TestHitKills(t *testing.T) {
	if os.Getenv("CRASHPOINT_CHILD") == "1" {
		Hit("a")
		os.Stdout.WriteString("after 1\n")
		Hit("b")
		Hit("a")
		os.Stdout.WriteString("after 2\n")
		os.Exit(0)
	}
	for _, c := range []struct {
		env    string
		out    string
		killed bool
	}{
		{Env + "=a@2", "after 1\n", true},
		{Env + "=b@1", "after 1\n", true},
		{Env + "=a@3", "after 1\nafter 2\n", false},
		{"X=1", "after 1\nafter 2\n", false},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHitKills$")
		cmd.Env = append(os.Environ(), "CRASHPOINT_CHILD=1", c.env)
		out, err := cmd.Output()
		killed := err != nil && cmd.ProcessState != nil && !cmd.ProcessState.Exited()
		if string(out) != c.out || killed != c.killed {
			t.Errorf("%s: output %q, killed %v (%v); want %q, killed %v", c.env, out, killed, err, c.out, c.killed)
		}
	}
}
