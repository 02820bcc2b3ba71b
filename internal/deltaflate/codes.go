package deltaflate

import "math/bits"

// The fixed Huffman codes of RFC 1951 section 3.2.6, bit-reversed because
// deflate packs Huffman codes most significant bit first into a stream that
// is otherwise least significant bit first.

const endOfBlock = 256

var (
	litCodes [286]uint16
	litLens  [286]uint8
	// lenCodes[l] is the code of a match length l (3..258) with its extra
	// bits already in place above it.
	lenCodes [maxMatch + 1]struct {
		code uint32
		n    uint8
	}
)

var (
	lengthBase  = [29]int{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
)

func init() {
	for sym := range litCodes {
		var code uint16
		var n uint8
		switch {
		case sym < 144:
			code, n = 0b00110000+uint16(sym), 8
		case sym < 256:
			code, n = 0b110010000+uint16(sym-144), 9
		case sym < 280:
			code, n = uint16(sym-256), 7
		default:
			code, n = 0b11000000+uint16(sym-280), 8
		}
		litCodes[sym] = bits.Reverse16(code) >> (16 - n)
		litLens[sym] = n
	}
	for i, base := range lengthBase {
		top := maxMatch
		if i+1 < len(lengthBase) {
			top = lengthBase[i+1] - 1
		}
		sym := 257 + i
		for l := base; l <= top; l++ {
			extra := uint32(l-base) << litLens[sym]
			lenCodes[l].code = uint32(litCodes[sym]) | extra
			lenCodes[l].n = litLens[sym] + lengthExtra[i]
		}
	}
}

// distCode returns the code of a distance (1..32768) with its extra bits
// above it, and the total bit count.
func distCode(dist int) (uint64, uint) {
	d := uint(dist - 1)
	if d < 4 {
		return uint64(bits.Reverse8(uint8(d)) >> 3), 5
	}
	nb := uint(bits.Len(d)) - 1
	code := 2*nb + (d>>(nb-1))&1
	extraBits := nb - 1
	extra := d & (1<<extraBits - 1)
	return uint64(bits.Reverse8(uint8(code))>>3) | uint64(extra)<<5, 5 + extraBits
}
