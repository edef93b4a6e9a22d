/*
 * lns_downlink.c - drives lns_mqtt_send_downlink for tests/integration/lns_downlink.sh,
 * which has no other way in until the downlink queue is connected to it.
 *
 *   sb-lns-downlink PORT JOURNAL DEV_EUI FPORT HEX [confirmed]
 *
 * Starts a journal writer and the lns-mqtt adapter against the broker on 127.0.0.1:PORT,
 * prints "subscribed" once subscribed, waits for one uplink from DEV_EUI (the script
 * publishes it) so that the adapter learns the device's applicationId, sends the downlink
 * without naming the application, and prints "acked" when the broker acknowledged it.
 * Every wait is bounded (10 s); exit status 0 only when all of that happened.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "ingest/chirpstack.h"
#include "ingest/lns_mqtt.h"
#include "output/mqtt_session.h"
#include "store/journal_writer.h"

#define WAIT_STEPS 200 /* of 50 ms: 10 s */

static atomic_int downlink_status = 1; /* 1 pending, 0 acked, -1 failed */

static void on_downlink_done(void *ctx, int status)
{
    (void)ctx;
    atomic_store(&downlink_status, status);
}

static void pause_50ms(void)
{
    struct timespec ts = {.tv_nsec = 50 * 1000000L};
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: sb-lns-downlink PORT JOURNAL DEV_EUI FPORT HEX [confirmed]\n");
        return 2;
    }
    static struct config cfg;
    char err[CONFIG_ERROR_SIZE], set[600];
    config_set_defaults(&cfg);
    const char *sets[] = {"gateway.id=dl-test", "lns_mqtt.enabled=true", "lns_mqtt.host=127.0.0.1",
                          "log.level=debug"};
    for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
        if (config_apply_option(&cfg, sets[i], err) != 0) {
            fprintf(stderr, "%s\n", err);
            return 2;
        }
    }
    snprintf(set, sizeof(set), "lns_mqtt.port=%s", argv[1]);
    if (config_apply_option(&cfg, set, err) != 0 || config_finish(&cfg, err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    uint8_t payload[CHIRPSTACK_MAX_DATA_BYTES];
    size_t payload_len = strlen(argv[5]) / 2;
    for (size_t i = 0; i < payload_len && i < sizeof(payload); i++)
        sscanf(argv[5] + 2 * i, "%2hhx", &payload[i]);

    mqtt_session_global_init();

    struct journal_writer_options wopts = {
        .path = argv[2],
        .journal = {.synchronous = JOURNAL_SYNC_FULL, .busy_timeout_ms = 5000},
        .batch_max_rows = 64,
        .batch_max_ms = 2,
        .queue_frames = 64,
        .retention_ms = 3600 * 1000,
    };
    struct journal_writer *writer;
    if (journal_writer_start(&writer, &wopts, NULL, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "journal: %s\n", err);
        return 1;
    }
    struct lns_mqtt *lm;
    if (lns_mqtt_start(&lm, &cfg, writer, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        journal_writer_stop(writer);
        return 1;
    }
    int rc = 1;
    struct lns_mqtt_stats st = {0};
    for (int i = 0; i < WAIT_STEPS && !st.subscribed; i++, pause_50ms())
        lns_mqtt_get_stats(lm, &st);
    if (!st.subscribed) {
        fprintf(stderr, "not subscribed within 10 s\n");
        goto out;
    }
    printf("subscribed\n");
    fflush(stdout);
    for (int i = 0; i < WAIT_STEPS && st.accepted + st.empty + st.quarantined == 0;
         i++, pause_50ms())
        lns_mqtt_get_stats(lm, &st);
    if (st.accepted + st.empty + st.quarantined == 0) {
        fprintf(stderr, "no uplink within 10 s\n");
        goto out;
    }
    /* the application is left out on purpose: it must come from the uplink */
    if (lns_mqtt_send_downlink(lm, argv[3], NULL, (uint8_t)atoi(argv[4]), payload, payload_len,
                               argc > 6 && strcmp(argv[6], "confirmed") == 0, on_downlink_done,
                               NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        goto out;
    }
    for (int i = 0; i < WAIT_STEPS && atomic_load(&downlink_status) == 1; i++)
        pause_50ms();
    if (atomic_load(&downlink_status) != 0) {
        fprintf(stderr, "downlink not acknowledged\n");
        goto out;
    }
    /* an unknown device has no application to go to */
    if (lns_mqtt_send_downlink(lm, "0102030405060708", NULL, 1, payload, 1, false, NULL, NULL, err,
                               sizeof(err)) == 0) {
        fprintf(stderr, "a downlink for a device never seen was accepted\n");
        goto out;
    }
    printf("acked\n");
    rc = 0;
out:
    lns_mqtt_stop(lm, NULL);
    journal_writer_stop(writer);
    return rc;
}
