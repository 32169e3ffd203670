package damage

import (
	"encoding/binary"
	"fmt"
)

// Tag pushes VLAN tags onto every frame, outermost first: one id gives an 802.1Q tag, two give
// QinQ (an 802.1ad S-tag outside an 802.1Q C-tag), as a mirror port on a trunk delivers them.
// Frames without an Ethernet header get one first.
func Tag(c *Capture, vids ...uint16) error {
	if len(vids) == 0 {
		return nil
	}
	for _, v := range vids {
		if v == 0 || v >= 4095 {
			return fmt.Errorf("VLAN id %d: must be 1..4094", v)
		}
	}
	if err := ToEthernet(c); err != nil {
		return err
	}
	tags := make([]byte, 0, 4*len(vids))
	for i, v := range vids {
		tpid := uint16(etherTypeVLAN)
		if i < len(vids)-1 {
			tpid = etherTypeQinQ
		}
		tags = binary.BigEndian.AppendUint16(tags, tpid)
		tags = binary.BigEndian.AppendUint16(tags, v)
	}
	for i, p := range c.Packets {
		if len(p.Data) < 14 {
			continue
		}
		d := make([]byte, 0, len(p.Data)+len(tags))
		d = append(d, p.Data[:12]...)
		d = append(d, tags...)
		d = append(d, p.Data[12:]...)
		c.Packets[i].Data = d
		c.Packets[i].CI.Length += len(tags)
	}
	if c.Snaplen > 0 {
		c.Snaplen += uint32(len(tags))
	}
	return nil
}
