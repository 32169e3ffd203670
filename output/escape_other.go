//go:build !amd64

package output

// Elsewhere the word loop of appendJSONString does all the work.
const useEscapeBlocks = false

func escapeBlocks(dst, src []byte, high uint64) (n, i int) { return 0, 0 }
