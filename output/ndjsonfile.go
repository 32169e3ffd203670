package output

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"

	"sniffer/model"
)

// ndjsonBackups is how many rotated files -o keeps: PATH.1 (newest) to PATH.5 (oldest).
const ndjsonBackups = 5

// NDJSONFile writes calls as NDJSON (EncodeNDJSON, the stdout format) to a file, rotated by
// size: when the next line would take the file past maxBytes it is renamed PATH.1 (older
// ones shift to PATH.2 ... PATH.5, the oldest is removed) and a new PATH is started. A line
// is never split across files. maxBytes <= 0 means no rotation.
type NDJSONFile struct {
	mu       sync.Mutex
	path     string
	maxBytes int64
	f        *os.File
	w        *bufio.Writer
	size     int64
	buf      []byte
	sum      Summary
	err      error
	closed   bool
}

// NewNDJSONFile opens path for appending (a restart continues the same file).
func NewNDJSONFile(path string, maxBytes int64) (*NDJSONFile, error) {
	s := &NDJSONFile{path: path, maxBytes: maxBytes, sum: Summary{Dropped: map[string]int64{}}}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *NDJSONFile) open() error {
	f, err := os.OpenFile(s.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("ndjson file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("ndjson file: %w", err)
	}
	s.f, s.w, s.size = f, bufio.NewWriterSize(f, 256<<10), fi.Size()
	return nil
}

func (s *NDJSONFile) rotate() error {
	if err := s.w.Flush(); err != nil {
		return err
	}
	if err := s.f.Close(); err != nil {
		return err
	}
	os.Remove(s.path + "." + strconv.Itoa(ndjsonBackups))
	for i := ndjsonBackups - 1; i >= 1; i-- {
		os.Rename(s.path+"."+strconv.Itoa(i), s.path+"."+strconv.Itoa(i+1))
	}
	if err := os.Rename(s.path, s.path+".1"); err != nil {
		return err
	}
	return s.open()
}

// Send writes the record's masked call.
func (s *NDJSONFile) Send(r *Record) error { return s.Write(r.Call()) }

// DoneOnSend marks NDJSONFile as done with a record once Send returns: the call is encoded
// and written.
func (s *NDJSONFile) DoneOnSend() {}

// Write appends one call. After a disk error every later call is counted as dropped.
func (s *NDJSONFile) Write(c *model.Call) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sum.Written++
	if s.closed {
		s.sum.Dropped[DropClosed]++
		return ErrClosed
	}
	if c == nil {
		s.sum.Dropped[DropEncode]++
		return errNilCall
	}
	if s.err == nil {
		s.buf = EncodeNDJSON(s.buf[:0], c)
		if s.maxBytes > 0 && s.size > 0 && s.size+int64(len(s.buf)) > s.maxBytes {
			s.err = s.rotate()
		}
		if s.err == nil {
			_, s.err = s.w.Write(s.buf)
		}
	}
	if s.err != nil {
		s.sum.Dropped[DropEncode]++
		return fmt.Errorf("ndjson file %s: %w", s.path, s.err)
	}
	s.size += int64(len(s.buf))
	s.sum.Delivered++
	return nil
}

// Flush pushes buffered lines to the file (for a periodic flush while capturing live).
func (s *NDJSONFile) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.err != nil {
		return s.err
	}
	return s.w.Flush()
}

// Close flushes and closes the file.
func (s *NDJSONFile) Close(context.Context) (Summary, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		err := s.w.Flush()
		if cerr := s.f.Close(); err == nil {
			err = cerr
		}
		if err != nil && s.err == nil {
			s.err = err
		}
	}
	sum := s.sum
	sum.Dropped = map[string]int64{}
	for k, v := range s.sum.Dropped {
		sum.Dropped[k] = v
	}
	if s.err != nil {
		return sum, fmt.Errorf("ndjson file %s: %w", s.path, s.err)
	}
	return sum, nil
}
