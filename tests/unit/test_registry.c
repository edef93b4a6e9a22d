/*
 * test_registry.c - registry.c on a real journal file: the file's mode, add / get / remove,
 * DevAddr uniqueness, devices the edge network server does not activate (activation none),
 * masked keys, DevNonces never reused, counters that never go back, FCnt recovery from the
 * journal (only of the current session), the downlink queue, damaged rows. The settings
 * are test_device_settings.c's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store/journal.h"
#include "lorawan/registry.h"

struct fixture {
    char dir[64];
    char path[96];
    struct registry *r;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_registry.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/j.db", f->dir);
    char err[256];
    if (registry_open(&f->r, f->path, false, 1000, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    registry_close(f->r);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static struct registry_device abp(const char *eui, uint32_t dev_addr)
{
    struct registry_device d = {.activation = REGISTRY_ABP, .dev_addr = dev_addr};
    snprintf(d.dev_eui, sizeof(d.dev_eui), "%s", eui);
    snprintf(d.name, sizeof(d.name), "room 1");
    for (int i = 0; i < REGISTRY_KEY_SIZE; i++) {
        d.nwk_s_key[i] = (uint8_t)(0x10 + i);
        d.app_s_key[i] = (uint8_t)(0x20 + i);
    }
    return d;
}

static struct registry_device otaa(const char *eui)
{
    struct registry_device d = {.activation = REGISTRY_OTAA, .join_eui = 0x70b3d57ed0000001ULL};
    snprintf(d.dev_eui, sizeof(d.dev_eui), "%s", eui);
    for (int i = 0; i < REGISTRY_KEY_SIZE; i++)
        d.app_key[i] = (uint8_t)(0x30 + i);
    return d;
}

static void test_file_is_private_and_schema_3(void **state)
{
    struct fixture *f = *state;
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char wal[128];
    snprintf(wal, sizeof(wal), "%s-wal", f->path);
    bool exists;
    struct registry_device d = abp("70b3d57ed0000001", 0x26011bda);
    assert_int_equal(registry_add(f->r, &d, &exists), 0);
    if (stat(wal, &st) == 0)
        assert_int_equal(st.st_mode & 0777, 0600);

    /* a wider file made by an older sensorbro is tightened on open */
    assert_int_equal(chmod(f->path, 0644), 0);
    char err[256];
    struct registry *again;
    assert_int_equal(registry_open(&again, f->path, false, 1000, err, sizeof(err)), 0);
    registry_close(again);
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_add_get_remove(void **state)
{
    struct fixture *f = *state;
    bool exists = true, found = false;
    struct registry_device d = abp("70b3d57ed0000001", 0x26011bda), got;
    assert_int_equal(registry_add(f->r, &d, &exists), 0);
    assert_false(exists);
    assert_int_equal(registry_get(f->r, "70b3d57ed0000001", &got, &found), 0);
    assert_true(found);
    assert_string_equal(got.name, "room 1");
    assert_true(got.has_session);
    assert_false(got.has_fcnt_up);
    assert_int_equal(got.dev_addr, 0x26011bda);
    assert_memory_equal(got.nwk_s_key, d.nwk_s_key, 16);
    assert_memory_equal(got.app_s_key, d.app_s_key, 16);
    assert_int_equal(registry_find_by_dev_addr(f->r, 0x26011bda, &got, &found), 0);
    assert_true(found);
    assert_string_equal(got.dev_eui, "70b3d57ed0000001");

    /* the same DevEUI again, and another device on the same DevAddr, are refused */
    assert_int_equal(registry_add(f->r, &d, &exists), -1);
    assert_true(exists);
    struct registry_device other = abp("70b3d57ed0000002", 0x26011bda);
    assert_int_equal(registry_add(f->r, &other, &exists), -1);
    assert_false(exists);
    assert_non_null(strstr(registry_errmsg(f->r), "26011bda"));

    struct registry_device o = otaa("70b3d57ed0000003");
    assert_int_equal(registry_add(f->r, &o, &exists), 0);
    assert_int_equal(registry_get(f->r, "70b3d57ed0000003", &got, &found), 0);
    assert_true(found);
    assert_false(got.has_session);
    assert_true(got.join_eui == 0x70b3d57ed0000001ULL);

    assert_int_equal(registry_remove(f->r, "70b3d57ed0000001", &found), 0);
    assert_true(found);
    assert_int_equal(registry_remove(f->r, "70b3d57ed0000001", &found), 0);
    assert_false(found);
    assert_int_equal(registry_find_by_dev_addr(f->r, 0x26011bda, &got, &found), 0);
    assert_false(found);
}

/* A CoAP or LNS device: a DevEUI and a name, no keys and no session, whatever keys the
 * struct held; a LoRaWAN session can never be started on it. */
static void test_device_without_activation(void **state)
{
    struct fixture *f = *state;
    bool exists = true, found = false;
    struct registry_device d = abp("70b3d57ed0000009", 0x26011bdb), got;
    d.activation = REGISTRY_NONE;
    snprintf(d.name, sizeof(d.name), "coap sensor");
    assert_int_equal(registry_add(f->r, &d, &exists), 0);
    assert_int_equal(registry_get(f->r, d.dev_eui, &got, &found), 0);
    assert_true(found);
    assert_int_equal(got.activation, REGISTRY_NONE);
    assert_string_equal(got.name, "coap sensor");
    assert_false(got.has_session);
    uint8_t zero[REGISTRY_KEY_SIZE] = {0};
    assert_memory_equal(got.nwk_s_key, zero, REGISTRY_KEY_SIZE);
    assert_int_equal(registry_find_by_dev_addr(f->r, 0x26011bdb, &got, &found), 0);
    assert_false(found);
    bool taken = true;
    assert_int_equal(registry_dev_addr_taken(f->r, 0x26011bdb, &taken), 0);
    assert_false(taken);
    assert_int_equal(registry_start_session(f->r, d.dev_eui, 0x26011bdc, d.nwk_s_key, d.app_s_key),
                     -1);
    assert_int_equal(registry_get(f->r, d.dev_eui, &got, &found), 0);
    assert_false(got.has_session);

    /* the table itself refuses keys on such a row */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(db,
                                      "UPDATE devices SET dev_addr = 1, nwk_s_key = x'00' "
                                      "WHERE activation = 'none'",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
    sqlite3_close(db);
}

static void test_mask(void **state)
{
    (void)state;
    uint8_t key[16] = {0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6,
                       0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c};
    char masked[REGISTRY_MASKED_SIZE];
    registry_mask_key(key, masked);
    assert_string_equal(masked, "2b…3c (16 bytes)");
    assert_null(strstr(masked, "7e15"));
}

static void test_dev_nonce_and_app_nonce(void **state)
{
    struct fixture *f = *state;
    bool exists, fresh = false;
    struct registry_device o = otaa("70b3d57ed0000003");
    assert_int_equal(registry_add(f->r, &o, &exists), 0);
    assert_int_equal(registry_use_dev_nonce(f->r, o.dev_eui, 0x1234, &fresh), 0);
    assert_true(fresh);
    assert_int_equal(registry_use_dev_nonce(f->r, o.dev_eui, 0x1234, &fresh), 0);
    assert_false(fresh);
    assert_int_equal(registry_use_dev_nonce(f->r, o.dev_eui, 0x1235, &fresh), 0);
    assert_true(fresh);
    uint32_t n1 = 0, n2 = 0;
    assert_int_equal(registry_next_app_nonce(f->r, o.dev_eui, &n1), 0);
    assert_int_equal(registry_next_app_nonce(f->r, o.dev_eui, &n2), 0);
    assert_int_equal(n1, 1);
    assert_int_equal(n2, 2);

    uint8_t k1[16] = {1}, k2[16] = {2};
    struct registry_device got;
    bool found;
    assert_int_equal(registry_start_session(f->r, o.dev_eui, 0x00abcdef, k1, k2), 0);
    assert_int_equal(registry_find_by_dev_addr(f->r, 0x00abcdef, &got, &found), 0);
    assert_true(found);
    assert_true(got.has_session);
    assert_memory_equal(got.nwk_s_key, k1, 16);
    bool taken = false;
    assert_int_equal(registry_dev_addr_taken(f->r, 0x00abcdef, &taken), 0);
    assert_true(taken);
    /* removing the device forgets its nonces too */
    assert_int_equal(registry_remove(f->r, o.dev_eui, &found), 0);
    assert_int_equal(registry_add(f->r, &o, &exists), 0);
    assert_int_equal(registry_use_dev_nonce(f->r, o.dev_eui, 0x1234, &fresh), 0);
    assert_true(fresh);
}

static void test_counters(void **state)
{
    struct fixture *f = *state;
    bool exists, found;
    struct registry_device d = abp("70b3d57ed0000001", 0x26011bda), got;
    assert_int_equal(registry_add(f->r, &d, &exists), 0);
    assert_int_equal(registry_set_fcnt_up(f->r, d.dev_eui, 70000), 0);
    assert_int_equal(registry_set_fcnt_up(f->r, d.dev_eui, 5), 0); /* never lowered */
    assert_int_equal(registry_get(f->r, d.dev_eui, &got, &found), 0);
    assert_true(got.has_fcnt_up);
    assert_int_equal(got.fcnt_up, 70000);
    uint32_t down = 99;
    assert_int_equal(registry_take_fcnt_down(f->r, d.dev_eui, &down), 0);
    assert_int_equal(down, 0);
    assert_int_equal(registry_take_fcnt_down(f->r, d.dev_eui, &down), 0);
    assert_int_equal(down, 1);
}

/* Frames journaled after the registry's last write raise the recovered FCnt; frames of an
 * earlier session (before the device was added again) do not. */
static void test_recover_fcnt_from_journal(void **state)
{
    struct fixture *f = *state;
    char err[256];
    struct journal *j;
    struct journal_options jo = {.synchronous = JOURNAL_SYNC_FULL, .busy_timeout_ms = 1000};
    assert_int_equal(journal_open(&j, f->path, &jo, err, sizeof(err)), 0);
    struct frame_record rec = {.device = "70b3d57ed0000001",
                               .transport = "semtech-udp",
                               .source = "127.0.0.1:1",
                               .received_ms = 1,
                               .radio = {.has_lorawan = true, .fcnt = 900, .fport = 1}};
    int64_t id;
    /* an old session's frame, before the device exists */
    assert_int_equal(journal_append(j, &rec, &id), 0);

    bool exists, found, has;
    uint32_t fcnt = 0;
    struct registry_device d = abp("70b3d57ed0000001", 0x26011bda), got;
    assert_int_equal(registry_add(f->r, &d, &exists), 0);
    assert_int_equal(registry_get(f->r, d.dev_eui, &got, &found), 0);
    assert_int_equal(registry_recover_fcnt_up(f->r, &got, &has, &fcnt), 0);
    assert_false(has);

    assert_int_equal(registry_set_fcnt_up(f->r, d.dev_eui, 10), 0);
    rec.radio.fcnt = 12;
    assert_int_equal(journal_append(j, &rec, &id), 0);
    rec.radio.fcnt = 14;
    assert_int_equal(journal_quarantine(j, &rec, "bad", &id), 0);
    rec.radio.fcnt = 99999; /* another transport's counter does not count */
    snprintf(rec.transport, sizeof(rec.transport), "lns-mqtt");
    assert_int_equal(journal_append(j, &rec, &id), 0);
    assert_int_equal(registry_get(f->r, d.dev_eui, &got, &found), 0);
    assert_int_equal(registry_recover_fcnt_up(f->r, &got, &has, &fcnt), 0);
    assert_true(has);
    assert_int_equal(fcnt, 14);
    journal_close(j);
}

static void test_downlink_queue(void **state)
{
    struct fixture *f = *state;
    bool exists, found;
    struct registry_device d = abp("70b3d57ed0000001", 0x26011bda);
    assert_int_equal(registry_add(f->r, &d, &exists), 0);
    uint8_t payload[52] = {1, 2, 3};
    int64_t id1, id2, queued;
    assert_int_equal(registry_queue_downlink(f->r, d.dev_eui, 0, payload, 3, false, &id1), -1);
    assert_int_equal(registry_queue_downlink(f->r, d.dev_eui, 224, payload, 3, false, &id1), -1);
    assert_int_equal(registry_queue_downlink(f->r, d.dev_eui, 2, payload, 52, false, &id1), -1);
    assert_int_equal(registry_queue_downlink(f->r, "70b3d57ed00000ff", 2, payload, 3, false, &id1),
                     -1);
    assert_int_equal(registry_queue_downlink(f->r, d.dev_eui, 2, payload, 3, true, &id1), 0);
    assert_int_equal(registry_queue_downlink(f->r, d.dev_eui, 3, payload, 0, false, &id2), 0);
    assert_int_equal(registry_count_downlinks(f->r, d.dev_eui, &queued), 0);
    assert_int_equal(queued, 2);
    struct registry_downlink dl;
    assert_int_equal(registry_next_downlink(f->r, d.dev_eui, &dl, &found), 0);
    assert_true(found);
    assert_int_equal(dl.id, id1);
    assert_int_equal(dl.fport, 2);
    assert_true(dl.confirmed);
    assert_int_equal(dl.payload_len, 3);
    assert_int_equal(registry_mark_downlink_sent(f->r, id1, 5), 0);
    assert_int_equal(registry_next_downlink(f->r, d.dev_eui, &dl, &found), 0);
    assert_int_equal(dl.id, id2);
    assert_int_equal(dl.payload_len, 0);
    assert_int_equal(registry_mark_downlink_sent(f->r, id2, 6), 0);
    assert_int_equal(registry_next_downlink(f->r, d.dev_eui, &dl, &found), 0);
    assert_false(found);
}

static void test_damaged_row(void **state)
{
    struct fixture *f = *state;
    bool exists, found;
    struct registry_device d = abp("70b3d57ed0000001", 0x26011bda), got;
    assert_int_equal(registry_add(f->r, &d, &exists), 0);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE devices SET nwk_s_key = x'0102'", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(registry_get(f->r, d.dev_eui, &got, &found), -1);
    assert_non_null(strstr(registry_errmsg(f->r), "damaged"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_file_is_private_and_schema_3, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_get_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_device_without_activation, setup, teardown),
        cmocka_unit_test(test_mask),
        cmocka_unit_test_setup_teardown(test_dev_nonce_and_app_nonce, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recover_fcnt_from_journal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_downlink_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_row, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
