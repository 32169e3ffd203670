package output

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// spool is a bounded FIFO of messages on disk: numbered segment files of NDJSON lines, read
// from the lowest number, appended to the highest. It is not safe for concurrent use (the
// Poster holds its lock). What is in it survives a restart: a new spool on the same
// directory replays it first. Lines are flushed to the kernel at least once per flush
// interval, so a crash loses at most that much; a torn last line is skipped on reopen.
type spool struct {
	dir    string
	max    int64 // cap on the bytes of all segment files
	segMax int64 // a segment is sealed once this big
	lock   *os.File

	segs  []*segment // ascending seq; the last may be open for writing
	bytes int64      // sum of segment sizes on disk
	count int64      // messages not yet read

	w  *os.File // tail segment being written, nil when sealed
	bw *bufio.Writer
	r  *os.File // head segment being read, nil when not started
	br *bufio.Reader
}

type segment struct {
	seq             int64
	size            int64
	count, consumed int64
}

const (
	segPrefix = "seg-"
	segSuffix = ".ndjson"
	firstSeq  = 1 << 32 // room below for segments prepended at Close
)

func (s *spool) segPath(seq int64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%s%016d%s", segPrefix, seq, segSuffix))
}

// openSpool takes the directory (creating it), locks it against a second sniffer, and
// counts what an earlier run left there.
func openSpool(dir string, capBytes int64) (*spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: cannot create SPOOL_DIR: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if err := lockFile(lock); err != nil {
		lock.Close()
		return nil, fmt.Errorf("spool: SPOOL_DIR %s is in use by another sniffer (%v); give each its own directory", dir, err)
	}
	segMax := capBytes / 8
	segMax = min(max(segMax, 64<<10), 8<<20)
	s := &spool{dir: dir, max: capBytes, segMax: segMax, lock: lock}
	ents, err := os.ReadDir(dir)
	if err != nil {
		s.close()
		return nil, fmt.Errorf("spool: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(name, segPrefix) || !strings.HasSuffix(name, segSuffix) {
			continue
		}
		seq, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(name, segPrefix), segSuffix), 10, 64)
		if err != nil {
			continue
		}
		seg := &segment{seq: seq}
		if err := s.countLines(seg); err != nil {
			s.close()
			return nil, err
		}
		if seg.count == 0 {
			os.Remove(s.segPath(seq))
			continue
		}
		s.segs = append(s.segs, seg)
		s.bytes += seg.size
		s.count += seg.count
	}
	sort.Slice(s.segs, func(i, j int) bool { return s.segs[i].seq < s.segs[j].seq })
	return s, nil
}

func (s *spool) countLines(seg *segment) error {
	f, err := os.Open(s.segPath(seg.seq))
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := f.Read(buf)
		seg.count += int64(bytes.Count(buf[:n], []byte{'\n'}))
		seg.size += int64(n)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("spool: %w", err)
		}
	}
}

// room reports whether a message of n bytes fits under the cap.
func (s *spool) room(n int) bool { return s.bytes+int64(n)+1 <= s.max }

func (s *spool) append(msg []byte) error {
	if s.w == nil || s.segs[len(s.segs)-1].size >= s.segMax {
		if err := s.seal(); err != nil {
			return err
		}
		seq := int64(firstSeq)
		if n := len(s.segs); n > 0 {
			seq = s.segs[n-1].seq + 1
		}
		f, err := os.OpenFile(s.segPath(seq), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		s.w, s.bw = f, bufio.NewWriterSize(f, 64<<10)
		s.segs = append(s.segs, &segment{seq: seq})
	}
	seg := s.segs[len(s.segs)-1]
	s.bw.Write(msg)
	if err := s.bw.WriteByte('\n'); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	seg.size += int64(len(msg)) + 1
	seg.count++
	s.bytes += int64(len(msg)) + 1
	s.count++
	return nil
}

// seal flushes and closes the tail segment so it can be read; the next append opens a new one.
func (s *spool) seal() error {
	if s.w == nil {
		return nil
	}
	err := s.bw.Flush()
	if cerr := s.w.Close(); err == nil {
		err = cerr
	}
	s.w, s.bw = nil, nil
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

func (s *spool) flush() error {
	if s.bw == nil {
		return nil
	}
	return s.bw.Flush()
}

// next returns the oldest message, or ok=false when the spool is empty. A segment that cannot
// be read is removed and its unread messages returned as lost.
func (s *spool) next() (msg []byte, ok bool, lost int64) {
	for len(s.segs) > 0 {
		head := s.segs[0]
		if s.r == nil {
			if len(s.segs) == 1 && s.w != nil {
				if err := s.seal(); err != nil {
					return nil, false, s.removeHead()
				}
			}
			f, err := os.Open(s.segPath(head.seq))
			if err != nil {
				lost += s.removeHead()
				continue
			}
			s.r, s.br = f, bufio.NewReaderSize(f, 64<<10)
		}
		line, err := s.br.ReadBytes('\n')
		if err == nil {
			head.consumed++
			s.count--
			if head.consumed >= head.count {
				s.removeHead() // read to the end: nothing left to replay
			}
			return line[:len(line)-1], true, lost
		}
		// EOF (a torn last line is skipped) or a read error: done with this segment.
		lost += s.removeHead()
	}
	return nil, false, lost
}

// removeHead deletes the head segment and returns how many of its messages were unread.
func (s *spool) removeHead() int64 {
	head := s.segs[0]
	if s.r != nil {
		s.r.Close()
		s.r, s.br = nil, nil
	}
	if len(s.segs) == 1 && s.w != nil {
		s.w.Close()
		s.w, s.bw = nil, nil
	}
	os.Remove(s.segPath(head.seq))
	unread := head.count - head.consumed
	s.count -= unread
	s.bytes -= head.size
	s.segs = s.segs[1:]
	return unread
}

// dropOldest removes the oldest segment to make room and returns how many unread messages
// went with it; ok is false when there is nothing to remove.
func (s *spool) dropOldest() (int64, bool) {
	if len(s.segs) == 0 {
		return 0, false
	}
	return s.removeHead(), true
}

// prepend stores msgs ahead of everything in the spool (they are older: calls that were in
// memory or in flight when Close's deadline passed).
func (s *spool) prepend(msgs [][]byte) error {
	if len(msgs) == 0 {
		return nil
	}
	if err := s.rewriteHead(); err != nil {
		return err
	}
	seq := int64(firstSeq)
	if len(s.segs) > 0 {
		seq = s.segs[0].seq - 1
	}
	seg := &segment{seq: seq}
	var buf bytes.Buffer
	for _, m := range msgs {
		buf.Write(m)
		buf.WriteByte('\n')
		seg.count++
	}
	seg.size = int64(buf.Len())
	if err := writeFileAtomic(s.segPath(seq), buf.Bytes()); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.segs = append([]*segment{seg}, s.segs...)
	s.bytes += seg.size
	s.count += seg.count
	return nil
}

// rewriteHead replaces a partly read head segment with its unread rest, so a restart does
// not replay (duplicate) what was already taken out.
func (s *spool) rewriteHead() error {
	if s.r == nil || len(s.segs) == 0 {
		return nil
	}
	head := s.segs[0]
	rest, err := io.ReadAll(s.br)
	s.r.Close()
	s.r, s.br = nil, nil
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if i := bytes.LastIndexByte(rest, '\n'); i+1 < len(rest) {
		rest = rest[:i+1] // a torn last line
	}
	if len(rest) == 0 {
		s.removeHead()
		return nil
	}
	if err := writeFileAtomic(s.segPath(head.seq), rest); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.bytes += int64(len(rest)) - head.size
	head.size, head.count, head.consumed = int64(len(rest)), head.count-head.consumed, 0
	return nil
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// close leaves the spool ready for the next run: tail flushed, head trimmed to its unread rest.
func (s *spool) close() error {
	err := errors.Join(s.seal(), s.rewriteHead())
	if s.lock != nil {
		s.lock.Close() // releases the flock
		s.lock = nil
	}
	return err
}
