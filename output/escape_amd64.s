#include "textflag.h"

// SPREAD writes the 8 bytes at the bottom of X6 to DI+CX spread by escapeSpread's entry
// for the mask in AX (R8: escapeSpread, R9: escapeLen), and adds the bytes written to CX.
#define SPREAD \
	MOVQ AX, R13 \
	SHLQ $5, AX \
	MOVOU (R8)(AX*1), X4 \
	MOVOU 16(R8)(AX*1), X5 \
	PSHUFB X4, X6 \
	POR  X5, X6 \
	MOVOU X6, (DI)(CX*1) \
	MOVBQZX (R9)(R13*1), AX \
	ADDQ AX, CX

// func escapeBlocks(dst, src []byte, high uint64) (n, i int)
//
// Go's operand order: PSHUFB ctl, x sets x to x's bytes picked by ctl; PANDN a, b sets
// b to a &^ b.
TEXT ·escapeBlocks(SB), NOSPLIT, $0-72
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), R10
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), R11
	MOVQ high+48(FP), AX
	XORQ R12, R12                  // the top bits PMOVMSKB gives count when high is set
	MOVQ $0xffff, DX
	TESTQ AX, AX
	CMOVQNE DX, R12
	LEAQ ·escapeConst(SB), AX
	MOVOU 0(AX), X10               // '"' x16
	MOVOU 16(AX), X11              // '\\' x16
	MOVOU 32(AX), X12              // 0x1f x16
	MOVOU 48(AX), X14              // by low nibble: 9, 10, 13 themselves, others 0xff
	MOVOU 64(AX), X15              // by low nibble: 9^'t', 10^'n', 13^'r', others 0
	PXOR X13, X13                  // zero
	LEAQ ·escapeSpread(SB), R8
	LEAQ ·escapeLen(SB), R9
	XORQ CX, CX                    // n: bytes written
	XORQ BX, BX                    // i: bytes read

loop:
	LEAQ 16(BX), AX
	CMPQ AX, R11
	JGT  done
	LEAQ 32(CX), AX
	CMPQ AX, R10
	JGT  done
	MOVOU (SI)(BX*1), X0

	// X7: the bytes '\t', '\n' and '\r', whose low nibble looked up in X14 gives them
	// back (PSHUFB gives 0 for a byte from 0x80).
	MOVOU X14, X7
	PSHUFB X0, X7
	PCMPEQB X0, X7

	// The other bytes below 0x20 (x - 0x1f saturates to 0), and from 0x80 when high is
	// set: stop before this block.
	MOVOU X0, X1
	PSUBUSB X12, X1
	PCMPEQB X13, X1
	MOVOU X7, X8
	PANDN X1, X8
	PMOVMSKB X8, AX
	PMOVMSKB X0, DX
	ANDQ R12, DX
	ORQ  DX, AX
	TESTQ AX, AX
	JNZ  done

	// X2: the bytes that take a backslash: '"', '\\' and those of X7.
	MOVOU X0, X2
	PCMPEQB X10, X2
	MOVOU X0, X3
	PCMPEQB X11, X3
	POR  X3, X2
	POR  X7, X2
	PMOVMSKB X2, DX
	TESTQ DX, DX
	JNZ  spread
	MOVOU X0, (DI)(CX*1)
	ADDQ $16, BX
	ADDQ $16, CX
	JMP  loop

spread:
	// The letters of the short escapes in place of '\t', '\n', '\r'.
	MOVOU X15, X9
	PSHUFB X0, X9
	PAND X7, X9
	PXOR X9, X0
	// Low half, then high half.
	MOVQ DX, AX
	ANDQ $0xff, AX
	MOVOU X0, X6
	SPREAD
	SHRQ $8, DX
	MOVQ DX, AX
	MOVOU X0, X6
	PSRLDQ $8, X6
	SPREAD
	ADDQ $16, BX
	JMP  loop

done:
	MOVQ CX, n+56(FP)
	MOVQ BX, i+64(FP)
	RET
