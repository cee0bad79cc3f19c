// Package testenv holds what tests need from the machine: the Python
// reference (Debian's python3 with torch, numpy, scipy) and the headless
// browser. Tests that need one call Require…; on a machine without it they
// skip, unless the matching MPANALYZE_REQUIRE_… variable is set (CI sets
// them), in which case they fail, so that CI can never pass by skipping.
package testenv
