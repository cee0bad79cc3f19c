package main

import "os"

func debugEnabled() bool { return os.Getenv("MPANALYZE_DEBUG") != "" }
