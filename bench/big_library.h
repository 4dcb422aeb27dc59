/* bench/big_library.h — the entry point of libvt_big.so (bench/big_library.c). */
#ifndef VT_BENCH_BIG_LIBRARY_H
#define VT_BENCH_BIG_LIBRARY_H

typedef void vt_big_leaf(unsigned site);

/* Calls leaf(site) through depth + 1 frames of the library: this function, then `depth` links
 * chosen by (site, depth), distinct for every site and depth below 29. */
void vt_big_call(unsigned site, unsigned depth, vt_big_leaf *leaf);

#endif
