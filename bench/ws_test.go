package bench

import (
	"bytes"
	"compress/flate"
	"fmt"
	"testing"
)

type collect struct {
	msgs  []string
	comp  []bool
	wire  []int64
	ctl   []byte
	full  bool
	inflt inflater
}

func (c *collect) message(op byte, compressed bool, data []byte, wire int64) error {
	if compressed && c.full {
		var err error
		if data, err = c.inflt.inflate(data); err != nil {
			return err
		}
	}
	c.msgs = append(c.msgs, string(data))
	c.comp = append(c.comp, compressed)
	c.wire = append(c.wire, wire)
	return nil
}

func (c *collect) control(op byte, _ []byte) error {
	c.ctl = append(c.ctl, op)
	return nil
}

func serverFrame(op byte, rsv1, fin bool, p []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	if rsv1 {
		b0 |= 0x40
	}
	out := []byte{b0}
	switch n := len(p); {
	case n < 126:
		out = append(out, byte(n))
	case n < 65536:
		out = append(out, 126, byte(n>>8), byte(n))
	default:
		out = append(out, 127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(out, p...)
}

// TestParserAndInflate feeds frames split at every chunk size and checks
// classification, wire counts and context-takeover inflation.
func TestParserAndInflate(t *testing.T) {
	var zbuf bytes.Buffer
	zw, _ := flate.NewWriter(&zbuf, 3)
	deflate := func(s string) []byte {
		zbuf.Reset()
		zw.Write([]byte(s))
		zw.Flush()
		return bytes.TrimSuffix(bytes.Clone(zbuf.Bytes()), []byte{0, 0, 0xff, 0xff})
	}
	big := `42["match_data","` + string(bytes.Repeat([]byte("x"), 70000)) + `"]`
	state := `42["match_data","{\"toastInfo\":{\"active\":true,\"message\":\"m1\"},\"pad\":\"` + string(bytes.Repeat([]byte("abc"), 500)) + `\"}"]`
	state2 := bytes.Replace([]byte(state), []byte("m1"), []byte("m2"), 1)
	var stream []byte
	stream = append(stream, serverFrame(opText, false, true, []byte("2"))...)
	stream = append(stream, serverFrame(opText, true, true, deflate(state))...)
	stream = append(stream, serverFrame(opPing, false, true, []byte("hi"))...)
	c2 := deflate(string(state2))
	stream = append(stream, serverFrame(opText, true, false, c2[:10])...)
	stream = append(stream, serverFrame(opPing, false, true, nil)...)
	stream = append(stream, serverFrame(opCont, false, true, c2[10:])...)
	stream = append(stream, serverFrame(opText, false, true, []byte(big))...)
	for _, chunk := range []int{1, 2, 3, 7, 100, 1 << 20} {
		for _, full := range []bool{false, true} {
			t.Run(fmt.Sprintf("chunk%d-full%v", chunk, full), func(t *testing.T) {
				var p frameParser
				p.full = full
				c := &collect{full: full}
				for i := 0; i < len(stream); i += chunk {
					if err := p.feed(stream[i:min(i+chunk, len(stream))], c); err != nil {
						t.Fatal(err)
					}
				}
				if len(c.msgs) != 4 || len(c.ctl) != 2 {
					t.Fatalf("got %d messages, %d control frames", len(c.msgs), len(c.ctl))
				}
				if c.msgs[0] != "2" || c.comp[0] || !c.comp[1] || !c.comp[2] || c.comp[3] {
					t.Fatalf("classification: %q %v", c.msgs[0], c.comp)
				}
				if c.wire[2] != int64(2+10+2+len(c2)-10) || c.wire[3] != int64(10+len(big)) {
					t.Fatalf("wire counts %v", c.wire)
				}
				if full {
					if c.msgs[1] != state || c.msgs[2] != string(state2) || c.msgs[3] != big {
						t.Fatal("full payloads differ")
					}
				} else if c.msgs[3] != big[:prefixCap] {
					t.Fatalf("prefix %q", c.msgs[3])
				}
			})
		}
	}
}
