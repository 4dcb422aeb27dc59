/* vramtrace/frames.h — what one recorded frame is: a 64-bit word, shared by the shim (stacks it
 * interns), the trace (STACK records) and every reader.
 *
 *   native frame: a return address, bit 63 clear (x86-64 user-space addresses are below 2^47).
 *   Python frame: bit 63 set; bits 32..62 the code id (a CODE record of the trace, 1..2^31-1);
 *                 bits 0..31 the byte offset of the instruction being executed in that code
 *                 object's bytecode (what PyCode_Addr2Line takes).
 *
 * A stack is innermost first and may mix both kinds: native frames from the CUDA call up to the
 * first interpreter frame, the Python frames where the interpreter's evaluation frames were, then
 * any native frames below them (docs/architecture.md, "Python frames").
 */
#ifndef VRAMTRACE_FRAMES_H
#define VRAMTRACE_FRAMES_H

#include <stdbool.h>
#include <stdint.h>

#define VT_FRAME_PYTHON_BIT (UINT64_C(1) << 63)

static inline bool vt_frame_is_python(uint64_t frame)
{
    return (frame & VT_FRAME_PYTHON_BIT) != 0;
}

static inline uint64_t vt_python_frame(uint32_t code_id, uint32_t byte_offset)
{
    return VT_FRAME_PYTHON_BIT | ((uint64_t)(code_id & 0x7fffffffu) << 32) | byte_offset;
}

static inline uint32_t vt_python_frame_code(uint64_t frame)
{
    return (uint32_t)(frame >> 32) & 0x7fffffffu;
}

static inline uint32_t vt_python_frame_offset(uint64_t frame)
{
    return (uint32_t)frame;
}

#endif
