package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"runtime/debug"
	"strings"

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
	root.SetFlagErrorFunc(flagError)
	return root
}

// flagError turns pflag's parse errors into usage errors (exit code 2)
// that name the flag and the value: `--steps x: not a whole number`,
// `--lr -1: out of range (want …)`.
func flagError(c *cobra.Command, err error) error {
	msg := err.Error()
	if m := badFlagValue.FindStringSubmatch(msg); m != nil {
		val, flag, cause := m[1], m[2], m[3]
		if i := strings.LastIndex(flag, "--"); i >= 0 {
			flag = flag[i:]
		}
		switch {
		case strings.Contains(cause, "value out of range"):
			cause = "too large"
		case strings.Contains(cause, "strconv.ParseUint"):
			cause = "not a whole number ≥ 0"
		case strings.Contains(cause, "strconv.ParseInt"), strings.Contains(cause, "strconv.Atoi"):
			cause = "not a whole number"
		case strings.Contains(cause, "strconv.ParseFloat"):
			cause = "not a number"
		case strings.Contains(cause, "strconv.ParseBool"):
			cause = "not true or false"
		}
		msg = fmt.Sprintf("%s %s: %s", flag, val, cause)
	}
	return usageErrorf("%s (see '%s --help')", msg, c.CommandPath())
}

// badFlagValue matches pflag's `invalid argument "V" for "--F" flag: CAUSE`.
var badFlagValue = regexp.MustCompile(`^invalid argument "(.*)" for "(.*)" flag: (.*)$`)

// markUsage makes every failure cobra reports before a command's RunE
// starts (unknown commands and flags, bad flag values, wrong argument
// counts) a usage error, and records in *started when a RunE starts.
func markUsage(c *cobra.Command, started *bool) {
	if args := c.Args; args != nil {
		c.Args = func(cmd *cobra.Command, a []string) error {
			if err := args(cmd, a); err != nil {
				msg := err.Error()
				if strings.HasPrefix(msg, "unknown command") && len(a) > 0 {
					msg = fmt.Sprintf("takes no arguments, got %q", a[0])
				}
				return usageErrorf("%s: %s (usage: %s)", strings.TrimPrefix(cmd.CommandPath(), "mpanalyze "), msg, cmd.UseLine())
			}
			return nil
		}
	}
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, a []string) error {
			*started = true
			return run(cmd, a)
		}
	}
	for _, sub := range c.Commands() {
		markUsage(sub, started)
	}
}

// Main runs the command line and returns the process exit code: 0 on
// success, 2 on a usage error (the command line itself is wrong: an
// unknown command or flag, a flag value out of range, a wrong number of
// arguments, contradicting flags), 1 on any other error. A panic anywhere below is turned into an error
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
	started := false
	markUsage(root, &started)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		var ue *usageError
		if !errors.As(err, &ue) && !started {
			// cobra's own errors: an unknown command, with its
			// suggestions on one line.
			msg, sugg, ok := strings.Cut(err.Error(), "\n\nDid you mean this?\n")
			if ok {
				msg += "; did you mean " + strings.Join(strings.Fields(sugg), " or ") + "?"
			}
			err = usageErrorf("%s (see 'mpanalyze --help')", msg)
		}
		fmt.Fprintf(errOut, "mpanalyze: %v\n", err)
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

// usageError marks an error in the command line itself (exit code 2).
type usageError struct {
	msg string
	err error // the cause, if any (errors.Is/As see through)
}

func (e *usageError) Error() string { return e.msg }
func (e *usageError) Unwrap() error { return e.err }

// asUsage marks err as a usage error, keeping its message and cause.
func asUsage(err error) error {
	if err == nil {
		return nil
	}
	return &usageError{msg: err.Error(), err: err}
}

func usageErrorf(format string, a ...any) error {
	return &usageError{msg: fmt.Sprintf(format, a...)}
}

// writeJSON writes v as indented JSON followed by a newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
