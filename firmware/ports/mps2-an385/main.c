/*
 * main.c - the node on mps2-an385: set up the board, run the node's loop, sleep between.
 *
 * A test build (SB_TEST_EXIT_AFTER_UPLINKS=N) ends QEMU through semihosting with status 0
 * once N uplinks were sent, so a test run is bounded by the node's own progress.
 */
#include "board.h"
#include "mps2_board.h"
#include "node.h"
#include "trace.h"

#ifdef SB_TEST_EXIT_AFTER_UPLINKS
#include "semihost.h"
#endif

int main(void)
{
    static struct node node;
    board_init();
    if (!node_init(&node))
        board_fatal(BOARD_EXIT_INIT_FAILED);
    for (;;) {
        uint32_t wake_ms = node_poll(&node);
#ifdef SB_TEST_EXIT_AFTER_UPLINKS
        if (node.counters.uplinks_sent >= SB_TEST_EXIT_AFTER_UPLINKS) {
            trace_str("test done uplinks=");
            trace_u32(node.counters.uplinks_sent);
            trace_end();
            semihost_exit(BOARD_EXIT_OK);
        }
#endif
        board_sleep_until(wake_ms);
    }
}
