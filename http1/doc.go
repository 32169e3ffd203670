// Package http1 parses the bytes of one direction of a TCP connection as HTTP/1.x
// messages: start lines and headers read as browsers read them (head.go), how each
// body is delimited (framing.go), chunked bodies (chunked.go), and the state machine
// that resynchronises after lost or malformed bytes (parser.go). It knows nothing of
// TCP: the connection that feeds a Parser (package reassembly) implements Conn, which
// is told when a message begins, ends or is given up, and which pairs responses with
// requests. Limits and Counters are handed to the Parser, shared by every connection.
package http1
