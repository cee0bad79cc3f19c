package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/mpanalyze/mpanalyze/internal/version"
	"github.com/mpanalyze/mpanalyze/model/gemm"
)

func init() { register(newVersionCmd) }

type versionOptions struct {
	JSON bool
}

func newVersionCmd(s *streams) *cobra.Command {
	opts := &versionOptions{}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the tool version, Go version and GEMM kernel",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return runVersion(s, opts) },
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

func runVersion(s *streams, opts *versionOptions) error {
	info := map[string]string{
		"version": version.String(),
		"go":      runtime.Version(),
		"os_arch": runtime.GOOS + "/" + runtime.GOARCH,
		"gemm":    gemm.Describe(),
	}
	if opts.JSON {
		return writeJSON(s.Out, info)
	}
	_, err := fmt.Fprintf(s.Out, "mpanalyze %s (%s, %s, GEMM %s)\n", info["version"], info["go"], info["os_arch"], info["gemm"])
	return err
}
