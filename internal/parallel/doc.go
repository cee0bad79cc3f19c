// Package parallel runs independent loop iterations on several goroutines.
//
// For is the one parallel-for of the project: the training step, the
// evaluation, the batch builder and the dataset statistics all use it. Each
// iteration must write only its own outputs, so that results never depend
// on the number of workers or on the schedule. A panic in an iteration
// stops the hand-out of further iterations and is re-raised on the caller's
// goroutine, where the command line's recover turns it into an error
// message instead of a crash.
package parallel
