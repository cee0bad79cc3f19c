// Command mpanalyze trains Mask2Former-style segmentation models, probes every
// decoder stage and measures how consistent the stages are. See README.md.
package main

import "os"

func main() { os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
