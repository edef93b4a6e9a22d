/*
 * test_nvm.c - nvm.c on a fake flash: a new node, records surviving a reboot, the sequence
 * limit never going back, wear levelling across pages, and power lost at every step of a
 * record write and of a compaction, plus a corrupt area and a refused erase.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fake_board.h"
#include "nvm.h"

static struct nvm nvm;

static enum nvm_state reopen(void)
{
    enum nvm_state st;
    assert_true(nvm_open(&nvm, &st));
    return st;
}

static int setup(void **state)
{
    (void)state;
    fake_board_reset();
    return 0;
}

static void expect_config(const char *text)
{
    uint8_t buf[NVM_MAX_RECORD_BYTES];
    size_t len = nvm_read_config(&nvm, buf, sizeof(buf));
    if (text == NULL) {
        assert_int_equal(len, 0);
        return;
    }
    assert_int_equal(len, strlen(text));
    assert_memory_equal(buf, text, len);
}

static void test_blank_then_records_survive(void **state)
{
    (void)state;
    assert_int_equal(reopen(), NVM_STATE_BLANK);
    assert_false(nvm.damaged);
    assert_int_equal(reopen(), NVM_STATE_OK); /* formatted: a valid, empty page */
    expect_config(NULL);
    assert_int_equal(nvm.seq_limit, 0);
    assert_true(nvm_write_config(&nvm, (const uint8_t *)"config one", 10));
    assert_true(nvm_write_seq_limit(&nvm, 32));
    assert_true(nvm_write_config(&nvm, (const uint8_t *)"config two!", 11));
    assert_int_equal(reopen(), NVM_STATE_OK);
    expect_config("config two!");
    assert_int_equal(nvm.seq_limit, 32);
    assert_false(nvm.damaged);
}

static void test_wear_levelling(void **state)
{
    (void)state;
    reopen();
    assert_true(nvm_write_config(&nvm, (const uint8_t *)"the config", 10));
    uint32_t limit = 0;
    for (int i = 0; i < 2000; i++) {
        limit += NVM_SEQ_BLOCK;
        assert_true(nvm_write_seq_limit(&nvm, limit));
        if (i % 97 == 0) {
            reopen(); /* reboots in between change nothing */
            assert_int_equal(nvm.seq_limit, limit);
        }
    }
    reopen();
    assert_int_equal(nvm.seq_limit, limit);
    expect_config("the config"); /* carried through every compaction */
    unsigned min = UINT32_MAX, max = 0;
    for (uint32_t p = 0; p < FAKE_NVM_PAGE_COUNT; p++) {
        unsigned e = fake_nvm_erase_count(p);
        min = e < min ? e : min;
        max = e > max ? e : max;
    }
    print_message("erases per page: %u..%u for 2000 writes\n", min, max);
    assert_true(max - min <= 1);
    assert_true(min >= 30); /* 2000 writes of 13 per page, spread over 4 pages */
}

/* Power fails at the k-th flash operation of a write; after the reboot the state is the old
 * one or the new one, never a mix, and the sequence limit never goes back. */
static void test_power_loss_anywhere(void **state)
{
    (void)state;
    for (int k = 0; k < 40; k++) {
        for (size_t partial = 0; partial <= 8; partial += 3) {
            fake_board_reset();
            reopen();
            uint32_t limit = 0;
            /* Fill the page close to a compaction so some writes compact. */
            for (int i = 0; i < 10 + k % 7; i++) {
                limit += NVM_SEQ_BLOCK;
                assert_true(nvm_write_seq_limit(&nvm, limit));
            }
            assert_true(nvm_write_config(&nvm, (const uint8_t *)"old config", 10));
            fake_nvm_fail_after(k % 5, partial);
            bool ok = true;
            for (int i = 0; i < 6 && ok; i++) {
                ok = nvm_write_seq_limit(&nvm, limit + NVM_SEQ_BLOCK);
                if (ok)
                    limit += NVM_SEQ_BLOCK;
            }
            bool config_ok = ok && nvm_write_config(&nvm, (const uint8_t *)"new config", 10);
            fake_nvm_fail_after(-1, 0);
            enum nvm_state st = reopen();
            assert_int_equal(st, NVM_STATE_OK);
            assert_false(nvm.damaged);
            /* What was reported written is there; what failed may or may not be. */
            assert_true(nvm.seq_limit == limit || nvm.seq_limit == limit + NVM_SEQ_BLOCK);
            if (config_ok)
                expect_config("new config");
            else
                expect_config("old config");
            /* And writing goes on normally afterwards. */
            assert_true(nvm_write_seq_limit(&nvm, nvm.seq_limit + NVM_SEQ_BLOCK));
            assert_true(nvm_write_config(&nvm, (const uint8_t *)"after", 5));
            reopen();
            expect_config("after");
        }
    }
}

static void test_corrupt_area(void **state)
{
    (void)state;
    reopen();
    assert_true(nvm_write_config(&nvm, (const uint8_t *)"config", 6));
    /* Bit rot in the only valid page header. */
    fake_nvm_bytes()[5] ^= 0x10;
    assert_int_equal(reopen(), NVM_STATE_CORRUPT);
    assert_true(nvm.damaged);
    expect_config(NULL);
    assert_int_equal(reopen(), NVM_STATE_OK); /* formatted afresh */
    /* Garbage everywhere. */
    for (size_t i = 0; i < FAKE_NVM_PAGE_SIZE * FAKE_NVM_PAGE_COUNT; i++)
        fake_nvm_bytes()[i] = (uint8_t)(i * 7 + 3);
    assert_int_equal(reopen(), NVM_STATE_CORRUPT);
}

static void test_bit_rot_in_a_record(void **state)
{
    (void)state;
    reopen();
    assert_true(nvm_write_config(&nvm, (const uint8_t *)"first", 5));
    assert_true(nvm_write_config(&nvm, (const uint8_t *)"second", 6));
    /* Flip a payload bit of the second record (page 0: header 16, first record 16). */
    fake_nvm_bytes()[16 + 16 + 8] ^= 0x01;
    reopen();
    expect_config("first"); /* the damaged record ends the page's records */
    assert_int_equal(nvm.torn_records, 1);
    assert_true(nvm_write_config(&nvm, (const uint8_t *)"third", 5)); /* compacts */
    reopen();
    expect_config("third");
    assert_int_equal(nvm.torn_records, 0);
}

static void test_refused_erase_keeps_old_state(void **state)
{
    (void)state;
    reopen();
    assert_true(nvm_write_config(&nvm, (const uint8_t *)"kept", 4));
    uint32_t limit = 0;
    while (!nvm.needs_compaction) {
        limit += NVM_SEQ_BLOCK;
        assert_true(nvm_write_seq_limit(&nvm, limit));
    }
    fake_nvm_fail_after(0, 0); /* the erase of the next page fails */
    assert_false(nvm_write_seq_limit(&nvm, limit + NVM_SEQ_BLOCK));
    fake_nvm_fail_after(-1, 0);
    reopen();
    expect_config("kept");
    assert_int_equal(nvm.seq_limit, limit);
}

static void test_oversized_config_refused(void **state)
{
    (void)state;
    reopen();
    uint8_t big[NVM_MAX_RECORD_BYTES + 1] = {0};
    assert_false(nvm_write_config(&nvm, big, sizeof(big)));
    assert_false(nvm_write_config(&nvm, big, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_blank_then_records_survive, setup),
        cmocka_unit_test_setup(test_wear_levelling, setup),
        cmocka_unit_test_setup(test_power_loss_anywhere, setup),
        cmocka_unit_test_setup(test_corrupt_area, setup),
        cmocka_unit_test_setup(test_bit_rot_in_a_record, setup),
        cmocka_unit_test_setup(test_refused_erase_keeps_old_state, setup),
        cmocka_unit_test_setup(test_oversized_config_refused, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
