package output

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/klauspost/compress/zlib"
)

// Eight senders compressing at once through two writers: every stream inflates to its own
// input, and no more than two writers are ever made.
func TestCompressorsShared(t *testing.T) {
	c := newCompressors(3, 2)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var dst bytes.Buffer
			for i := range 50 {
				msgs := make([][]byte, 100+i*7)
				var src []byte
				for k := range msgs {
					msgs[k] = []byte(fmt.Sprintf(`{"sender":%d,"bundle":%d,"message":%d}`, g, i, k))
					src = append(append(src, msgs[k]...), '\n')
				}
				c.compress(&dst, msgs)
				zr, err := zlib.NewReader(bytes.NewReader(dst.Bytes()))
				if err != nil {
					errs <- err
					return
				}
				got, err := io.ReadAll(zr)
				if err != nil || !bytes.Equal(got, src) {
					errs <- fmt.Errorf("sender %d bundle %d: %d bytes back of %d, err %v", g, i, len(got), len(src), err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	made := 0
	for range cap(c.free) {
		if <-c.free != nil {
			made++
		}
	}
	if made < 1 || made > 2 {
		t.Errorf("%d zlib writers made, want 1 or 2", made)
	}
}
