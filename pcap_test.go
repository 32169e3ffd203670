package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// testConv is one TCP connection carrying one request and its response.
type testConv struct {
	client, server netip.AddrPort
	req, resp      string
}

// writeConvs writes a pcap of the connections, one after the other: handshake,
// request, response, FINs, last ACK, 1 ms apart.
func writeConvs(t *testing.T, convs []testConv) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "calls.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	for _, c := range convs {
		cseq, sseq := uint32(1000), uint32(5000)
		send := func(fromClient, syn, ack, fin bool, payload string) {
			src, dst, seq, ackn := c.client, c.server, cseq, sseq
			if !fromClient {
				src, dst, seq, ackn = c.server, c.client, sseq, cseq
			}
			eth := &layers.Ethernet{SrcMAC: []byte{2, 0, 0, 0, 0, 2}, DstMAC: []byte{2, 0, 0, 0, 0, 1}, EthernetType: layers.EthernetTypeIPv4}
			ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
			tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), Seq: seq, Ack: ackn, SYN: syn, ACK: ack, FIN: fin, PSH: payload != "", Window: 65535}
			_ = tcp.SetNetworkLayerForChecksum(ip)
			buf := gopacket.NewSerializeBuffer()
			if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
				t.Fatal(err)
			}
			ts = ts.Add(time.Millisecond)
			if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(buf.Bytes()), Length: len(buf.Bytes())}, buf.Bytes()); err != nil {
				t.Fatal(err)
			}
			n := uint32(len(payload))
			if syn || fin {
				n++
			}
			if fromClient {
				cseq += n
			} else {
				sseq += n
			}
		}
		send(true, true, false, false, "")
		send(false, true, true, false, "")
		send(true, false, true, false, c.req)
		send(false, false, true, false, c.resp)
		send(true, false, true, true, "")
		send(false, false, true, true, "")
		send(true, false, true, false, "")
	}
	return path
}
