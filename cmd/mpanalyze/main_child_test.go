package main

import (
	"encoding/json"
	"os"
	"testing"
)

// childArgsEnv makes the test binary run the command line it holds (a JSON
// list of arguments) instead of the tests, so that tests can run
// mpanalyze in a process of its own and kill it (crash_test.go).
const childArgsEnv = "MPANALYZE_TEST_CHILD_ARGS"

// asBinaryEnv makes the test binary act as the mpanalyze command, its
// arguments those of the process (for the sweep scripts that exec it,
// sweep_test.go).
const asBinaryEnv = "MPANALYZE_TEST_AS_BINARY"

func TestMain(m *testing.M) {
	if os.Getenv(asBinaryEnv) == "1" {
		os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	if raw := os.Getenv(childArgsEnv); raw != "" {
		var args []string
		if err := json.Unmarshal([]byte(raw), &args); err != nil {
			os.Stderr.WriteString("bad " + childArgsEnv + ": " + err.Error() + "\n")
			os.Exit(3)
		}
		os.Exit(Main(args, os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}
