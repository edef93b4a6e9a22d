/*
 * trace.h - the core's debug log: lines built from pieces (text, numbers, hex) streamed to
 * board_log_write(), so that no line buffer sits in RAM and no printf is linked in.
 *
 *     trace_str("uplink seq="); trace_u32(seq); trace_end();
 *
 * Lines are for people and for the tests that read a port's log; never pass key material.
 *
 * A port with a log sink builds with SB_TRACE=1; without it every trace call compiles to
 * nothing, strings included (the size build for the budget has no port and no log).
 */
#ifndef SB_TRACE_H
#define SB_TRACE_H

#include <stddef.h>
#include <stdint.h>

#if SB_TRACE
void trace_str(const char *text);
void trace_u32(uint32_t value);
void trace_i32(int32_t value);
/* Upper-case hex, two digits per byte. */
void trace_hex(const uint8_t *data, size_t len);
/* Ends the line. */
void trace_end(void);
#else
/* Macros, not empty functions: the arguments (strings, calls for names) vanish too. */
#define trace_str(text)      ((void)sizeof(text))
#define trace_u32(value)     ((void)sizeof(value))
#define trace_i32(value)     ((void)sizeof(value))
#define trace_hex(data, len) ((void)sizeof(data), (void)sizeof(len))
#define trace_end()          ((void)0)
#endif

#endif
