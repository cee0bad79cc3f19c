package host

import (
	"runtime"
	"strings"
	"testing"
)

// Excerpts shaped like real /proc/cpuinfo files (the first lines of each
// processor block as Linux prints them: tabs before the colon, one block
// per logical CPU): the Intel VM of 2026-12-03 (copied from it), an AMD
// line with a run of spaces inside the name, and an arm64 machine, whose
// kernel prints no model name.
const (
	intelInfo = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 167\nmodel name\t: Intel(R) Xeon(R) Processor\nstepping\t: 8\n\nprocessor\t: 1\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Processor\n"
	amdInfo   = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 26\nmodel\t\t: 2\nmodel name\t: AMD EPYC 9B45  128-Core Processor\n"
	armInfo   = "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32\nCPU implementer\t: 0x41\nCPU part\t: 0xd0c\n"
)

func TestModelName(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"intel", intelInfo, "Intel(R) Xeon(R) Processor"},
		{"amd, double space collapsed", amdInfo, "AMD EPYC 9B45 128-Core Processor"},
		{"arm64, no model name", armInfo, ""},
		{"empty", "", ""},
		{"model line is not model name", "model\t\t: 167\n", ""},
	} {
		if got := modelName(strings.NewReader(c.in)); got != c.want {
			t.Errorf("%s: modelName = %q, want %q", c.name, got, c.want)
		}
	}
}

// TestDescribe reads this machine: on Linux/amd64, whose kernel always
// prints a model name, CPU must find it in the real /proc/cpuinfo, and
// Describe is that name with the extensions in parentheses (when ISA
// reports any) — the phrase bench torch prints.
func TestDescribe(t *testing.T) {
	name := CPU()
	if runtime.GOOS == "linux" && runtime.GOARCH == "amd64" && name == "" {
		t.Fatal(`CPU() = "" on linux/amd64: no "model name" read from /proc/cpuinfo`)
	}
	if name == "" {
		name = "unknown CPU"
	}
	want := name
	if isa := ISA(); isa != "" {
		want += " (" + isa + ")"
	}
	if d := Describe(); d != want {
		t.Fatalf("Describe() = %q, want %q", d, want)
	}
}
