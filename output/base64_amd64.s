#include "textflag.h"

// func base64Blocks(dst, src []byte) int
//
// Go's operand order: PSHUFB ctl, x sets x to x's bytes picked by ctl; PCMPGTB a, b sets
// b to b > a (signed); PSUBUSB a, b sets b to b - a, saturated at 0.
TEXT ·base64Blocks(SB), NOSPLIT, $0-56
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), R10
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), R11
	LEAQ ·b64Const(SB), AX
	MOVOU 0(AX), X8                // shuffle
	MOVOU 16(AX), X9               // mask of fields 1 and 3
	MOVOU 32(AX), X10              // their multiplier
	MOVOU 48(AX), X11              // mask of fields 2 and 4
	MOVOU 64(AX), X12              // their multiplier
	MOVOU 80(AX), X13              // 51
	MOVOU 96(AX), X14              // 26
	MOVOU 112(AX), X15             // 13
	MOVOU 128(AX), X7              // offsets
	XORQ CX, CX                    // steps
	XORQ BX, BX                    // src offset
	XORQ DX, DX                    // dst offset

loop:
	LEAQ 16(BX), R8
	CMPQ R8, R11
	JA   done
	LEAQ 16(DX), R8
	CMPQ R8, R10
	JA   done
	MOVOU (SI)(BX*1), X0
	PSHUFB X8, X0
	MOVO X0, X1
	PAND X9, X1
	PMULHUW X10, X1
	PAND X11, X0
	PMULLW X12, X0
	POR X1, X0                     // the 6-bit values, one per byte
	MOVO X0, X2
	PSUBUSB X13, X2                // 1-12 for 52-63, else 0
	MOVO X14, X3
	PCMPGTB X0, X3                 // 0xff where the value is below 26
	PAND X15, X3
	POR X3, X2                     // the range index
	MOVO X7, X4
	PSHUFB X2, X4                  // its offset
	PADDB X4, X0
	MOVOU X0, (DI)(DX*1)
	ADDQ $12, BX
	ADDQ $16, DX
	INCQ CX
	JMP  loop

done:
	MOVQ CX, ret+48(FP)
	RET
