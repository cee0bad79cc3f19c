package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime/debug"

	"github.com/mpanalyze/mpanalyze/internal/version"
	"github.com/spf13/cobra"
)

// Version is the tool version (see internal/version).
var Version = version.Version

// streams are the command's standard streams. Commands write data to Out and
// messages for people (progress, warnings) to Err, never to os.Stdout.
type streams struct {
	In       io.Reader
	Out, Err io.Writer
}

// commands holds the constructor of every top-level command. Each command
// lives in its own file and adds itself here from an init function, so that
// adding a command never touches this file.
var commands []func(s *streams) *cobra.Command

func register(f func(s *streams) *cobra.Command) { commands = append(commands, f) }

func newRootCmd(s *streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "mpanalyze",
		Short: "Look inside Mask2Former-style decoders, layer by layer",
		Long: `mpanalyze trains MaskFormer, Mask2Former and MP-Former on small data, records
every decoder stage's per-query masks, and measures layer-to-layer consistency
and query utilisation. 'mpanalyze reproduce' runs the whole diagnosis.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version,
	}
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	for _, f := range commands {
		root.AddCommand(f(s))
	}
	return root
}

// Main runs the command line and returns the process exit code: 0 on
// success, 1 on error. A panic anywhere below is turned into an error
// message (with the stack when MPANALYZE_DEBUG is set) so that none reaches
// the user as a crash.
func Main(args []string, in io.Reader, out, errOut io.Writer) (code int) {
	s := &streams{In: in, Out: out, Err: errOut}
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(errOut, "mpanalyze: internal error: %v\n", r)
			if debugEnabled() {
				errOut.Write(debug.Stack())
			} else {
				fmt.Fprintln(errOut, "(set MPANALYZE_DEBUG=1 for the stack trace and please report it)")
			}
			code = 1
		}
	}()
	root := newRootCmd(s)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		fmt.Fprintf(errOut, "mpanalyze: %v\n", err)
		var ue *usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

// usageError marks an error in the command line itself (exit code 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, a ...any) error {
	return &usageError{msg: fmt.Sprintf(format, a...)}
}

// writeJSON writes v as indented JSON followed by a newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
