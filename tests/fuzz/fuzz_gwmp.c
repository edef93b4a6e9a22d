/*
 * fuzz_gwmp.c - any bytes as a Semtech UDP (GWMP) datagram through the codec of
 * gateway/src/lorawan/gwmp.c, both sides: the server side's PUSH_DATA (every rxpk),
 * PULL_DATA and TX_ACK, as ingest/semtech_udp.c reads what arrives on its socket, and the
 * forwarder side's PULL_RESP, as modem-sim reads what the gateway sends.
 *
 * Invariants beyond the sanitizers:
 * - every refusal has a reason of its kind with a name (the header's: short, bad_version,
 *   bad_type; then bad_json; an rxpk's: rxpk_invalid, rxpk_oversize, crc, not_lora; a
 *   txpk's: txpk_invalid, not_lora), and a datagram parses as at most the one type its
 *   header names;
 * - what is taken lies in the ranges gwmp.h documents (freq, rssi, lsnr, data 1..256 bytes,
 *   a LoRa datr, a codr of digits and '/', stat fields, a plain TX_ACK error word);
 * - what is taken builds again (gwmp_build_push_data, gwmp_build_pull_resp) into a datagram
 *   that parses to the same values (doubles to cJSON's printing precision): the two sides
 *   agree on every field they share; a txpk without freq or datr (the forwarder side takes
 *   one) does not build at all;
 * - the acks the server sends parse on the forwarder side with the token echoed.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "lorawan/gwmp.h"

#include "fuzz_support.h"

#define MAX_DATAGRAM 8192

static bool is_lora_datr(const char *d)
{
    static const char *const sf[] = {"7", "8", "9", "10", "11", "12"};
    static const char *const bw[] = {"125", "250", "500"};
    if (strncmp(d, "SF", 2) != 0)
        return false;
    for (size_t i = 0; i < 6; i++) {
        size_t n = strlen(sf[i]);
        if (strncmp(d + 2, sf[i], n) != 0 || strncmp(d + 2 + n, "BW", 2) != 0)
            continue;
        for (size_t j = 0; j < 3; j++) {
            if (strcmp(d + 4 + n, bw[j]) == 0)
                return true;
        }
    }
    return false;
}

static bool is_codr(const char *c)
{
    return strlen(c) < GWMP_CODR_SIZE && strspn(c, "0123456789/") == strlen(c);
}

static void check_why(enum gwmp_drop why, const enum gwmp_drop *allowed, size_t n)
{
    bool ok = false;
    for (size_t i = 0; i < n; i++)
        ok = ok || why == allowed[i];
    FUZZ_CHECK(ok && gwmp_drop_name(why)[0] != '?', "drop reason %d (%s)", (int)why,
               gwmp_drop_name(why));
}

static const enum gwmp_drop datagram_reasons[] = {GWMP_DROP_SHORT, GWMP_DROP_BAD_VERSION,
                                                  GWMP_DROP_BAD_TYPE, GWMP_DROP_BAD_JSON};
static const enum gwmp_drop rxpk_reasons[] = {GWMP_DROP_RXPK_INVALID, GWMP_DROP_RXPK_OVERSIZE,
                                              GWMP_DROP_CRC, GWMP_DROP_NOT_LORA};
static const enum gwmp_drop txpk_reasons[] = {GWMP_DROP_SHORT,        GWMP_DROP_BAD_VERSION,
                                              GWMP_DROP_BAD_TYPE,     GWMP_DROP_BAD_JSON,
                                              GWMP_DROP_TXPK_INVALID, GWMP_DROP_NOT_LORA};

static void check_rxpk(const struct gwmp_rxpk *rx)
{
    FUZZ_CHECK(rx->freq_hz >= 100000000u && rx->freq_hz <= 1000000000u, "freq %u", rx->freq_hz);
    FUZZ_CHECK(rx->rssi_dbm >= -250 && rx->rssi_dbm <= 50, "rssi %d", rx->rssi_dbm);
    FUZZ_CHECK(rx->lsnr_db >= -50 && rx->lsnr_db <= 50, "lsnr %g", rx->lsnr_db);
    FUZZ_CHECK(rx->size >= 1 && rx->size <= LORAWAN_PHY_MAX_BYTES, "size %zu", rx->size);
    FUZZ_CHECK(is_lora_datr(rx->datr), "datr %s", rx->datr);
    FUZZ_CHECK(is_codr(rx->codr), "codr %s", rx->codr);
    FUZZ_CHECK(rx->has_time || rx->time_unix_us == 0, "time without has_time");
}

/* cJSON prints a double with 15 significant digits when they read back within its own
 * epsilon (DBL_EPSILON relative), so a value written by one side and read by the other may
 * differ in the last bits: an lsnr of 7.511111111111111111 comes back as ...1102. Equal
 * here means within that. */
static bool same_double(double a, double b)
{
    return fabs(a - b) <= 4 * DBL_EPSILON * fmax(fabs(a), fabs(b));
}

/* The first field in which a and b differ, or NULL. */
static const char *rxpk_difference(const struct gwmp_rxpk *a, const struct gwmp_rxpk *b)
{
    if (a->has_time != b->has_time || a->time_unix_us != b->time_unix_us)
        return "time";
    if (a->tmst_us != b->tmst_us)
        return "tmst";
    if (a->freq_hz != b->freq_hz)
        return "freq";
    if (a->rssi_dbm != b->rssi_dbm)
        return "rssi";
    if (!same_double(a->lsnr_db, b->lsnr_db))
        return "lsnr";
    if (strcmp(a->datr, b->datr) != 0)
        return "datr";
    if (strcmp(a->codr, b->codr) != 0)
        return "codr";
    if (a->size != b->size || memcmp(a->data, b->data, a->size) != 0)
        return "data";
    return NULL;
}

/* A taken rxpk and stat, as the forwarder side writes them, read back. */
static void round_trip_rxpk(const struct gwmp_rxpk *rx, const struct gwmp_push_data *pd)
{
    static uint8_t out[MAX_DATAGRAM];
    size_t n = gwmp_build_push_data(pd->header.token, pd->eui, rx, 1,
                                    pd->has_stat ? &pd->stat : NULL, out, sizeof(out));
    FUZZ_CHECK(n > 0, "a taken rxpk does not build (time %lld us)", (long long)rx->time_unix_us);
    struct gwmp_push_data again;
    enum gwmp_drop why = GWMP_DROP_COUNT;
    FUZZ_CHECK(gwmp_parse_push_data(out, n, &again, &why) == 0, "rebuilt: %s", gwmp_drop_name(why));
    FUZZ_CHECK(again.header.token == pd->header.token &&
                   memcmp(again.eui, pd->eui, GWMP_EUI_BYTES) == 0,
               "rebuilt header");
    FUZZ_CHECK(again.has_stat == pd->has_stat, "rebuilt stat");
    if (pd->has_stat)
        FUZZ_CHECK(again.stat.rxnb == pd->stat.rxnb && again.stat.rxok == pd->stat.rxok &&
                       again.stat.rxfw == pd->stat.rxfw && again.stat.dwnb == pd->stat.dwnb &&
                       again.stat.txnb == pd->stat.txnb &&
                       same_double(again.stat.ackr, pd->stat.ackr),
                   "rebuilt stat values");
    struct gwmp_rxpk back;
    memset(&back, 0, sizeof(back));
    FUZZ_CHECK(gwmp_push_data_next(&again, &back, &why) == 1, "rebuilt rxpk: %s",
               gwmp_drop_name(why));
    const char *differs = rxpk_difference(rx, &back);
    FUZZ_CHECK(differs == NULL,
               "rebuilt rxpk differs in %s: time %lld/%lld us, lsnr %.17g/%.17g, freq %u/%u",
               differs, (long long)rx->time_unix_us, (long long)back.time_unix_us, rx->lsnr_db,
               back.lsnr_db, rx->freq_hz, back.freq_hz);
    FUZZ_CHECK(gwmp_push_data_next(&again, &back, &why) == -1, "rebuilt: more than one rxpk");
    gwmp_push_data_free(&again);
}

static void check_push_data(const uint8_t *buf, size_t len)
{
    struct gwmp_push_data pd;
    enum gwmp_drop why = GWMP_DROP_COUNT;
    if (gwmp_parse_push_data(buf, len, &pd, &why) != 0) {
        check_why(why, datagram_reasons, 4);
        gwmp_push_data_free(&pd);
        return;
    }
    FUZZ_CHECK(buf[3] == GWMP_PUSH_DATA && len >= 12, "not a PUSH_DATA");
    if (pd.has_stat)
        FUZZ_CHECK(pd.stat.ackr >= 0 && pd.stat.ackr <= 100, "ackr %g", pd.stat.ackr);
    /* every element takes a byte of the datagram at least: the walk ends */
    size_t elements = 0;
    for (;;) {
        struct gwmp_rxpk rx;
        memset(&rx, 0x5a, sizeof(rx));
        why = GWMP_DROP_COUNT;
        int rc = gwmp_push_data_next(&pd, &rx, &why);
        if (rc == -1)
            break;
        FUZZ_CHECK(++elements <= len, "more rxpk than bytes");
        FUZZ_CHECK(!pd.rxpk_not_array, "rxpk not an array, yet read");
        if (rc == 0) {
            check_why(why, rxpk_reasons, 4);
            continue;
        }
        FUZZ_CHECK(rc == 1, "next returned %d", rc);
        check_rxpk(&rx);
        round_trip_rxpk(&rx, &pd);
    }
    gwmp_push_data_free(&pd);
}

static void check_server_side(const uint8_t *buf, size_t len)
{
    struct gwmp_header h;
    enum gwmp_drop why = GWMP_DROP_COUNT;
    int header = gwmp_parse_header(buf, len, GWMP_SERVER, &h, &why);
    if (header != 0)
        check_why(why, datagram_reasons, 3);
    else
        FUZZ_CHECK(
            (h.version == 1 || h.version == 2) && h.token == (buf[1] << 8 | buf[2]) &&
                (h.type == GWMP_PUSH_DATA || h.type == GWMP_PULL_DATA || h.type == GWMP_TX_ACK),
            "header");

    check_push_data(buf, len);

    struct gwmp_pull_data pull;
    why = GWMP_DROP_COUNT;
    if (gwmp_parse_pull_data(buf, len, &pull, &why) == 0)
        FUZZ_CHECK(header == 0 && h.type == GWMP_PULL_DATA && len >= 12, "not a PULL_DATA");
    else
        check_why(why, datagram_reasons, 3);

    struct gwmp_tx_ack ack;
    why = GWMP_DROP_COUNT;
    if (gwmp_parse_tx_ack(buf, len, &ack, &why) == 0) {
        FUZZ_CHECK(header == 0 && h.type == GWMP_TX_ACK && len >= 12, "not a TX_ACK");
        size_t n = strnlen(ack.error, sizeof(ack.error));
        FUZZ_CHECK(n < sizeof(ack.error) && strspn(ack.error, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_?") == n,
                   "error word %s", ack.error);
        FUZZ_CHECK(!ack.failed || n > 0, "failed without an error word");
    } else {
        check_why(why, datagram_reasons, 4);
    }

    /* what the server answers, as the forwarder reads it */
    if (header == 0) {
        uint8_t out[GWMP_HEADER_BYTES];
        size_t n = h.type == GWMP_PULL_DATA ? gwmp_build_pull_ack(h.version, h.token, out, 4)
                                            : gwmp_build_push_ack(h.version, h.token, out, 4);
        struct gwmp_header back;
        FUZZ_CHECK(n == 4, "ack");
        int rc = gwmp_parse_header(out, n, GWMP_FORWARDER, &back, &why);
        FUZZ_CHECK(rc == (h.version == GWMP_VERSION ? 0 : -1), "ack of version %u", h.version);
        FUZZ_CHECK(rc != 0 || back.token == h.token, "ack token");
    }
}

static void check_forwarder_side(const uint8_t *buf, size_t len)
{
    struct gwmp_txpk tx;
    enum gwmp_drop why = GWMP_DROP_COUNT;
    if (gwmp_parse_pull_resp(buf, len, &tx, &why) != 0) {
        check_why(why, txpk_reasons, 6);
        return;
    }
    FUZZ_CHECK(buf[0] == GWMP_VERSION && buf[3] == GWMP_PULL_RESP, "not a PULL_RESP");
    FUZZ_CHECK(tx.size >= 1 && tx.size <= LORAWAN_PHY_MAX_BYTES, "size %zu", tx.size);
    FUZZ_CHECK(tx.freq_hz == 0 || (tx.freq_hz >= 100000000u && tx.freq_hz <= 1000000000u),
               "freq %u", tx.freq_hz);
    FUZZ_CHECK(tx.powe_dbm >= -128 && tx.powe_dbm <= 127, "powe %d", tx.powe_dbm);
    FUZZ_CHECK(tx.datr[0] == '\0' || is_lora_datr(tx.datr), "datr %s", tx.datr);
    FUZZ_CHECK(is_codr(tx.codr), "codr %s", tx.codr);
    static uint8_t out[MAX_DATAGRAM];
    uint16_t token = (uint16_t)(buf[1] << 8 | buf[2]);
    size_t n = gwmp_build_pull_resp(GWMP_VERSION, token, &tx, out, sizeof(out));
    /* The forwarder side takes a txpk without freq or datr; the server side never sends one
     * (a forwarder would refuse it). */
    if (tx.freq_hz == 0 || tx.datr[0] == '\0') {
        FUZZ_CHECK(n == 0, "a txpk without freq or datr built");
        return;
    }
    FUZZ_CHECK(n > 0, "a taken txpk does not build");
    struct gwmp_txpk back;
    FUZZ_CHECK(gwmp_parse_pull_resp(out, n, &back, &why) == 0, "rebuilt: %s", gwmp_drop_name(why));
    /* tmst is written only without imme: a forwarder ignores it then */
    FUZZ_CHECK(back.imme == tx.imme && (tx.imme || back.tmst_us == tx.tmst_us) &&
                   back.freq_hz == tx.freq_hz && back.rfch == tx.rfch &&
                   back.powe_dbm == tx.powe_dbm && strcmp(back.datr, tx.datr) == 0 &&
                   strcmp(back.codr, tx.codr) == 0 && back.ipol == tx.ipol &&
                   back.size == tx.size && memcmp(back.data, tx.data, tx.size) == 0,
               "rebuilt txpk differs");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > GWMP_MAX_BYTES)
        return 0;
    check_server_side(data, size);
    check_forwarder_side(data, size);
    return 0;
}
