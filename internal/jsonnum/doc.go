// Package jsonnum writes and reads JSON numbers that may be undefined: NaN
// and ±Inf are written as null, and null is read back as NaN. It is the
// one NaN→null path of the project: metric series, tables, train logs,
// metrics.jsonl and command output all go through it.
package jsonnum
