/* bench/big_library.c — owns libvt_big.so, the stand-in for a libLLVM-sized library in the exit
 * benchmark (bench/exit_bench.c, scripts/bench-exit.sh): LINK_COUNT (4,096) distinct functions
 * compiled with debug information, all in one compilation unit, through which the benchmark's
 * allocations reach their CUDA call (so their frames need the library's symbols and DWARF), and
 * 150,000 more functions that only fill the symbol table (big_library_filler.S). */
#include "big_library.h"

#define LINK_COUNT 4096

typedef void chain_link(unsigned site, unsigned depth, vt_big_leaf *leaf);

extern chain_link *const vt_big_links[LINK_COUNT];

static volatile unsigned last_link; /* each link stores its own number: no two links are alike */

/* Link a.b.c (hexadecimal digits) of a chain: the next link, or the leaf at depth 0. Never inlined,
 * cloned or merged, and never a tail call. */
#define LINK(a, b, c)                                                                                  \
    __attribute__((noipa)) static void link_##a##_##b##_##c(unsigned site, unsigned depth, vt_big_leaf *leaf) \
    {                                                                                                  \
        last_link = (a) * 256 + (b) * 16 + (c);                                                        \
        if (depth == 0)                                                                                \
            leaf(site);                                                                                \
        else                                                                                           \
            vt_big_links[(site * 29 + depth) % LINK_COUNT](site, depth - 1, leaf);                     \
        last_link = 0;                                                                                 \
    }
#define REFERENCE(a, b, c) link_##a##_##b##_##c,

#define EACH_C(M, a, b)                                                                                \
    M(a, b, 0) M(a, b, 1) M(a, b, 2) M(a, b, 3) M(a, b, 4) M(a, b, 5) M(a, b, 6) M(a, b, 7) M(a, b, 8)  \
    M(a, b, 9) M(a, b, 10) M(a, b, 11) M(a, b, 12) M(a, b, 13) M(a, b, 14) M(a, b, 15)
#define EACH_B(M, a)                                                                                   \
    EACH_C(M, a, 0) EACH_C(M, a, 1) EACH_C(M, a, 2) EACH_C(M, a, 3) EACH_C(M, a, 4) EACH_C(M, a, 5)    \
    EACH_C(M, a, 6) EACH_C(M, a, 7) EACH_C(M, a, 8) EACH_C(M, a, 9) EACH_C(M, a, 10) EACH_C(M, a, 11)  \
    EACH_C(M, a, 12) EACH_C(M, a, 13) EACH_C(M, a, 14) EACH_C(M, a, 15)
#define EACH(M)                                                                                        \
    EACH_B(M, 0) EACH_B(M, 1) EACH_B(M, 2) EACH_B(M, 3) EACH_B(M, 4) EACH_B(M, 5) EACH_B(M, 6)         \
    EACH_B(M, 7) EACH_B(M, 8) EACH_B(M, 9) EACH_B(M, 10) EACH_B(M, 11) EACH_B(M, 12) EACH_B(M, 13)     \
    EACH_B(M, 14) EACH_B(M, 15)

EACH(LINK)

__attribute__((visibility("hidden"))) chain_link *const vt_big_links[LINK_COUNT] = {EACH(REFERENCE)};

__attribute__((noipa)) void vt_big_call(unsigned site, unsigned depth, vt_big_leaf *leaf)
{
    if (depth == 0)
        leaf(site);
    else
        vt_big_links[(site * 29) % LINK_COUNT](site, depth - 1, leaf);
    last_link = 0;
}
