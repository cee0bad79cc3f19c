// Package host describes the machine a timing was taken on. Speed figures
// are only comparable on the same kind of processor (this project's
// machines change between sessions: Zen 4, Zen 5, Intel Xeon with AMX), so
// reports that print timings name it.
package host

import (
	"bufio"
	"io"
	"os"
	"runtime"
	"strings"

	"golang.org/x/sys/cpu"
)

// CPU returns the processor's model name as the OS reports it (Linux:
// the first "model name" of /proc/cpuinfo), or "" when it is not known.
func CPU() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	return modelName(f)
}

// modelName returns the value of the first "model name" line of a
// /proc/cpuinfo, spaces collapsed, or "" if there is none (ARM kernels
// print no such line).
func modelName(r io.Reader) string {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(key) == "model name" {
			return strings.Join(strings.Fields(val), " ")
		}
	}
	return ""
}

// ISA lists the vector extensions the processor reports that matter to
// this project's kernels: "AVX-512", "AVX2", "FMA", then the BF16 ones
// ("AVX512-BF16", "AMX-BF16"); "" on a machine with none of them (or not
// amd64). It says what the hardware has, not which kernel runs: that is
// gemm.Describe (a purego build runs the Go kernel on any machine).
func ISA() string {
	if runtime.GOARCH != "amd64" {
		return ""
	}
	var s []string
	for _, f := range []struct {
		has  bool
		name string
	}{
		{cpu.X86.HasAVX512F, "AVX-512"}, {cpu.X86.HasAVX2, "AVX2"}, {cpu.X86.HasFMA, "FMA"},
		{cpu.X86.HasAVX512BF16, "AVX512-BF16"}, {cpu.X86.HasAMXBF16, "AMX-BF16"},
	} {
		if f.has {
			s = append(s, f.name)
		}
	}
	return strings.Join(s, ", ")
}

// Describe is the model name and the extensions in one phrase, e.g.
// "Intel(R) Xeon(R) Processor (AVX-512, AVX2, FMA, AVX512-BF16, AMX-BF16)", with
// "unknown CPU" for a missing name.
func Describe() string {
	name := CPU()
	if name == "" {
		name = "unknown CPU"
	}
	if isa := ISA(); isa != "" {
		return name + " (" + isa + ")"
	}
	return name
}
