/*
 * seeds_fw.c - writes the seed corpora of the firmware's fuzz targets (fw_downlink, fw_at)
 * from the inputs the firmware unit tests use: the Downlinks of test_node.c, encoded with
 * nanopb as the gateway would send them, and the modem replies of test_at.c, with such a
 * Downlink in a +RECV line.
 *
 *   fuzz_seeds_fw CORPUS_DIR     (tests/fuzz/make-corpus runs it)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "downlink.h"
#include "hex.h"
#include "pb_encode.h"

static const char *corpus_dir;

static void write_seed(const char *target, const char *name, const void *data, size_t len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", corpus_dir, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof(path), "%s/%s/%s", corpus_dir, target, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static size_t encode(const sensorbro_v1_Downlink *msg, uint8_t *buf, size_t size)
{
    pb_ostream_t out = pb_ostream_from_buffer(buf, size);
    if (!pb_encode(&out, sensorbro_v1_Downlink_fields, msg)) {
        fprintf(stderr, "fuzz_seeds_fw: encoding failed\n");
        exit(1);
    }
    return out.bytes_written;
}

static void threshold(sensorbro_v1_Downlink *msg, uint32_t field, bool has_above, int32_t above,
                      bool has_below, int32_t below)
{
    sensorbro_v1_Threshold *t = &msg->thresholds[msg->thresholds_count++];
    t->field = field;
    if (has_above) {
        t->which_upper = sensorbro_v1_Threshold_above_tag;
        t->upper.above = above;
    }
    if (has_below) {
        t->which_lower = sensorbro_v1_Threshold_below_tag;
        t->lower.below = below;
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_seeds_fw CORPUS_DIR\n");
        return 2;
    }
    corpus_dir = argv[1];
    uint8_t buf[DOWNLINK_MAX_BYTES];

    /* test_node.c: the Downlink that is applied, persisted and echoed */
    sensorbro_v1_Downlink applied = sensorbro_v1_Downlink_init_zero;
    applied.config_version = 7;
    applied.has_sample_interval_s = true;
    applied.sample_interval_s = 60;
    applied.has_samples_per_uplink = true;
    applied.samples_per_uplink = 4;
    applied.time = 1800000000;
    threshold(&applied, QUANTITY_CO2, true, 1200, false, 0);
    size_t applied_len = encode(&applied, buf, sizeof(buf));
    write_seed("fw_downlink", "applied", buf, applied_len);

    /* every threshold slot, both bounds; a clear-all threshold; a bare version */
    sensorbro_v1_Downlink full = sensorbro_v1_Downlink_init_zero;
    full.config_version = 0xffffffffu;
    for (uint32_t i = 0; i < CONFIG_MAX_THRESHOLDS; i++)
        threshold(&full, QUANTITY_FIRST_FIXED + i, true, 2500 + (int32_t)i, true, -100);
    write_seed("fw_downlink", "every_threshold", buf, encode(&full, buf, sizeof(buf)));
    sensorbro_v1_Downlink clear = sensorbro_v1_Downlink_init_zero;
    clear.config_version = 2;
    threshold(&clear, QUANTITY_TEMPERATURE, false, 0, false, 0);
    write_seed("fw_downlink", "clear_thresholds", buf, encode(&clear, buf, sizeof(buf)));
    /* test_node.c's refusals: the interval 0, a span over a week, above < below */
    sensorbro_v1_Downlink bad = sensorbro_v1_Downlink_init_zero;
    bad.config_version = 9;
    bad.has_sample_interval_s = true;
    write_seed("fw_downlink", "interval_zero", buf, encode(&bad, buf, sizeof(buf)));
    bad.sample_interval_s = 86400;
    bad.has_samples_per_uplink = true;
    bad.samples_per_uplink = 8;
    write_seed("fw_downlink", "span_too_long", buf, encode(&bad, buf, sizeof(buf)));
    sensorbro_v1_Downlink crossed = sensorbro_v1_Downlink_init_zero;
    threshold(&crossed, QUANTITY_TEMPERATURE, true, 1500, true, 2500);
    write_seed("fw_downlink", "above_below_crossed", buf, encode(&crossed, buf, sizeof(buf)));

    /* test_at.c's modem replies, and the applied Downlink in a +RECV */
    char hex[2 * DOWNLINK_MAX_BYTES];
    applied_len = encode(&applied, buf, sizeof(buf));
    size_t hex_len = hex_encode(buf, applied_len, hex, sizeof(hex));
    char text[512];
    snprintf(text, sizeof(text),
             "OK\r\n+JOIN:OK\r\n+DR:5\r\nOK\r\n+RECV=1,-97,7:%.*s\r\n+ACK\r\nOK\r\n", (int)hex_len,
             hex);
    write_seed("fw_at", "session", text, strlen(text));
    static const char *const replies[] = {
        "+DR:3\r\nOK\r\n",
        "+RECV=1,-60,9:0807\r\n+ACK\r\nOK\r\n",
        "+DUTY:276000\r\nERROR:6\r\n",
        "+RECV=1,-60,9:0Z\r\nERRORR:3\r\n\r\nOK\r\n",
        "+JOIN:OK\n+RECV=2,-100,-5:AB\n",
        "ERROR\r\n+JOIN:FAIL\r\nAT+SEND=1:00\r\n+VER:1.0\r\nOK\r\n",
        "ERROR:7\r\nERROR:255\r\n+DR:16\r\nOK \r\n",
    };
    for (size_t i = 0; i < sizeof(replies) / sizeof(replies[0]); i++) {
        char name[32];
        snprintf(name, sizeof(name), "replies_%zu", i);
        write_seed("fw_at", name, replies[i], strlen(replies[i]));
    }
    return 0;
}
