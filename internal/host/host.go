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

// ISA lists the vector extensions that decide this project's kernel
// speed: "AVX-512" or "AVX2+FMA" (the widest the GEMM kernels use, as
// model/gemm picks them), then the BF16 ones present ("AVX512-BF16",
// "AMX-BF16"); "" on a machine with neither (or not amd64).
func ISA() string {
	if runtime.GOARCH != "amd64" {
		return ""
	}
	var s []string
	switch {
	case cpu.X86.HasAVX512F:
		s = append(s, "AVX-512")
	case cpu.X86.HasAVX2 && cpu.X86.HasFMA:
		s = append(s, "AVX2+FMA")
	}
	if cpu.X86.HasAVX512BF16 {
		s = append(s, "AVX512-BF16")
	}
	if cpu.X86.HasAMXBF16 {
		s = append(s, "AMX-BF16")
	}
	return strings.Join(s, ", ")
}

// Describe is the model name and the extensions in one phrase, e.g.
// "Intel(R) Xeon(R) Processor (AVX-512, AVX512-BF16, AMX-BF16)", with
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
