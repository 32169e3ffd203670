#include "textflag.h"

// Go's operand order: PSHUFB ctl, x sets x to x's bytes picked by ctl; CMPQ a, b sets the
// flags of a - b.

// CLASSIFY sets DX to the bytes of the 16 at SI+BX that are not in the class (one bit
// each), from the nibble tables in X8 and X9, 0x0f x16 in X10 and zero in X11.
#define CLASSIFY \
	MOVOU (SI)(BX*1), X0 \
	MOVOU X0, X1 \
	PSRLW $4, X1 \
	PAND X10, X1 \
	MOVOU X8, X2 \
	PSHUFB X0, X2 \
	MOVOU X9, X3 \
	PSHUFB X1, X3 \
	PAND X3, X2 \
	PCMPEQB X11, X2 \
	PMOVMSKB X2, DX

// func classRun(s []byte, t *[48]byte, m int, center uint64) (start, end, i, run int)
TEXT ·classRun(SB), NOSPLIT, $0-80
	MOVQ s_base+0(FP), SI
	MOVQ s_len+8(FP), R11
	MOVQ t+24(FP), DI
	MOVQ m+32(FP), R12
	MOVQ center+40(FP), R13
	MOVOU 0(DI), X8                // by low nibble: the high nibbles (0-7) in the class, as bits
	MOVOU 16(DI), X9               // by high nibble: its bit (0 from 8 up; PSHUFB gives 0 too)
	MOVOU 32(DI), X10              // 0x0f x16
	PXOR X11, X11
	XORQ BX, BX                    // i: bytes looked at
	XORQ R14, R14                  // run: in-class bytes just before i

loop:
	LEAQ 16(BX), AX
	CMPQ AX, R11
	JGT  tail
	CLASSIFY

	// A run going on from before the block (or starting at its first byte).
	MOVQ DX, AX
	ORQ  $0x10000, AX
	BSFQ AX, AX                    // in-class bytes at the block's start
	LEAQ (R14)(AX*1), CX
	CMPQ CX, R12
	JGE  carried

	// A run inside the block holds the center bits (m >= 9 of 16).
	MOVQ DX, CX
	NOTQ CX
	ANDQ $0xffff, CX
	MOVQ CX, R8
	ANDQ R13, CX
	CMPQ CX, R13
	JEQ  inner

next:
	TESTQ DX, DX
	JNZ  partial
	ADDQ $16, R14
	ADDQ $16, BX
	JMP  loop

partial:
	BSRQ DX, AX                    // the last byte not in the class
	MOVQ $15, R14
	SUBQ AX, R14                   // in-class bytes after it
	ADDQ $16, BX
	JMP  loop

carried:
	MOVQ BX, R15
	SUBQ R14, R15                  // start
	CMPQ AX, $16
	JLT  endin
	ADDQ $16, BX
	JMP  extend

inner:
	// Bit j of R8 ends up set when bytes j .. j+m-1 are all in the class: R &= R >> sh,
	// the lengths covered doubling (R9) up to m.
	MOVQ $1, R9
dbl:
	CMPQ R9, R12
	JGE  dbldone
	MOVQ R12, CX
	SUBQ R9, CX
	CMPQ CX, R9
	CMOVQGT R9, CX
	MOVQ R8, R10
	SHRQ CX, R10
	ANDQ R10, R8
	ADDQ CX, R9
	JMP  dbl
dbldone:
	TESTQ R8, R8
	JZ   next
	BSFQ R8, CX                    // j
	LEAQ (BX)(CX*1), R15           // start
	MOVQ DX, AX
	ORQ  $0x10000, AX
	SHRQ CX, AX
	BSFQ AX, AX                    // in-class bytes from j on
	ADDQ CX, AX
	CMPQ AX, $16
	JLT  endin
	ADDQ $16, BX

extend:
	// The run reached the end of a block: follow it through the next ones.
	LEAQ 16(BX), AX
	CMPQ AX, R11
	JGT  endpart
	CLASSIFY
	ORQ  $0x10000, DX
	BSFQ DX, AX
	CMPQ AX, $16
	JLT  endin
	ADDQ $16, BX
	JMP  extend

endin:
	// The run ends AX bytes into the block at BX.
	ADDQ BX, AX
	MOVQ R15, start+48(FP)
	MOVQ AX, end+56(FP)
	MOVQ BX, i+64(FP)
	MOVQ $0, run+72(FP)
	RET

endpart:
	// Fewer than 16 bytes left: the run goes on at least to BX, perhaps further.
	MOVQ R15, start+48(FP)
	MOVQ BX, end+56(FP)
	MOVQ BX, i+64(FP)
	MOVQ $1, run+72(FP)
	RET

tail:
	MOVQ $-1, start+48(FP)
	MOVQ $-1, end+56(FP)
	MOVQ BX, i+64(FP)
	MOVQ R14, run+72(FP)
	RET
