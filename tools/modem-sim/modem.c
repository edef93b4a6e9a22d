/*
 * modem.c - AT commands and the simulated radio (modem.h).
 *
 * Commands are parsed strictly: a line matches one command's whole grammar or is answered
 * with an error; numbers are range-checked and hex validated before any use.
 */
#include "modem.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#define SEND_MAX_HEX 512 /* 242 bytes is the most any data rate takes */

static const double eu868_channels_mhz[] = {868.1, 868.3, 868.5};

void modem_init(struct modem *m, const struct modem_io *io)
{
    m->io = *io;
    m->radio = RADIO_IDLE;
}

static void reply(struct modem *m, const char *line)
{
    m->io.reply(m->io.ctx, line);
}

/* "<prefix><value>", e.g. "+DR:3". */
static void reply_number(struct modem *m, const char *prefix, unsigned long value)
{
    char line[64];
    snprintf(line, sizeof(line), "%s%lu", prefix, value);
    reply(m, line);
}

static void error(struct modem *m, int code)
{
    reply_number(m, "ERROR:", (unsigned long)code);
}

/* Parses a decimal number in [min, max] that makes up all of text. */
static bool parse_uint(const char *text, unsigned long max, unsigned long *out)
{
    if (!isdigit((unsigned char)text[0]) || strlen(text) > 10)
        return false;
    char *end;
    unsigned long v = strtoul(text, &end, 10);
    if (*end != '\0' || v > max)
        return false;
    *out = v;
    return true;
}

static bool parse_hex(const char *hex, uint8_t *out, size_t out_size, size_t *out_len)
{
    size_t n = strlen(hex);
    if (n % 2 != 0 || n / 2 > out_size)
        return false;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned byte;
        if (!isxdigit((unsigned char)hex[2 * i]) || !isxdigit((unsigned char)hex[2 * i + 1]) ||
            sscanf(&hex[2 * i], "%2x", &byte) != 1)
            return false;
        out[i] = (uint8_t)byte;
    }
    *out_len = n / 2;
    return true;
}

/* Puts the frame in m->frame on air now at the current data rate. */
static void transmit(struct modem *m, double now_ms)
{
    const struct eu868_dr *dr = eu868_dr(m->dr);
    m->toa_ms = airtime_ms(m->frame_len, dr->sf, dr->bandwidth_khz);
    m->tx_end_ms = now_ms + m->toa_ms;
    duty_cycle_record(&m->duty, m->tx_end_ms, m->toa_ms);
    /* A pseudo-random channel per frame, as a device hops over the three default ones. */
    m->channel_seed = m->channel_seed * 1103515245u + 12345u;
    m->channel = (m->channel_seed >> 16) % 3u;
    m->radio = RADIO_TX;
}

static void start_send(struct modem *m, const char *args, bool confirmed, double now_ms)
{
    /* <port>:<hex> */
    char port_text[8];
    const char *colon = strchr(args, ':');
    if (colon == NULL || (size_t)(colon - args) >= sizeof(port_text)) {
        error(m, 2);
        return;
    }
    memcpy(port_text, args, (size_t)(colon - args));
    port_text[colon - args] = '\0';
    unsigned long port;
    uint8_t payload[SEND_MAX_HEX / 2];
    size_t len = 0;
    if (!parse_uint(port_text, 223, &port) || port == 0 || strlen(colon + 1) > SEND_MAX_HEX ||
        !parse_hex(colon + 1, payload, sizeof(payload), &len)) {
        error(m, 2);
        return;
    }
    if (!m->joined) {
        error(m, 3);
        return;
    }
    const struct eu868_dr *dr = eu868_dr(m->dr);
    if (len > dr->max_payload) {
        error(m, 5);
        return;
    }
    double wait_ms = duty_cycle_wait_ms(&m->duty, now_ms);
    if (wait_ms > 0) {
        reply_number(m, "+DUTY:", (unsigned long)(wait_ms + 0.999));
        error(m, 6);
        return;
    }
    uint8_t fctrl = m->ack_downlink ? LORAWAN_FCTRL_ACK : 0;
    m->frame_len = session_build_uplink(&m->session, confirmed, fctrl, (uint8_t)port, payload, len,
                                        m->frame, sizeof(m->frame));
    if (m->frame_len == 0) {
        error(m, 2);
        return;
    }
    m->ack_downlink = false;
    m->session.fcnt_up++;
    transmit(m, now_ms);
    m->confirmed = confirmed;
    m->acked = false;
    m->uplinks++;
    fprintf(stderr, "modem-sim: uplink fcnt=%u port=%lu len=%zu dr=%u toa_ms=%.1f%s\n",
            m->session.fcnt_up - 1, port, len, m->dr, m->toa_ms, confirmed ? " confirmed" : "");
}

/* OTAA: a Join-Request with the next DevNonce; the answer comes from modem_downlink() or,
 * when none came, from finish_send() as +JOIN:FAIL. */
static void start_join(struct modem *m, double now_ms)
{
    double wait_ms = duty_cycle_wait_ms(&m->duty, now_ms);
    if (wait_ms > 0) {
        reply_number(m, "+DUTY:", (unsigned long)(wait_ms + 0.999));
        error(m, 6);
        return;
    }
    reply(m, "OK");
    m->joined = false; /* a new join ends the old session whatever its outcome */
    struct modem_otaa *o = &m->otaa;
    if (o->dev_nonces_spent ||
        (m->io.dev_nonce_used != NULL && !m->io.dev_nonce_used(m->io.ctx, o->next_dev_nonce))) {
        fprintf(stderr, "modem-sim: no DevNonce left to join with\n");
        reply(m, "+JOIN:FAIL");
        return;
    }
    struct lorawan_join_request req = {
        .join_eui = o->join_eui, .dev_eui = o->dev_eui, .dev_nonce = o->next_dev_nonce};
    m->frame_len = lorawan_build_join_request(&req, o->app_key, m->frame, sizeof(m->frame));
    if (m->frame_len == 0) {
        reply(m, "+JOIN:FAIL");
        return;
    }
    o->dev_nonce = o->next_dev_nonce++;
    o->dev_nonces_spent = o->dev_nonce == UINT16_MAX;
    m->joining = true;
    m->confirmed = false;
    transmit(m, now_ms);
    fprintf(stderr, "modem-sim: join-request dev_nonce=%u dr=%u toa_ms=%.1f\n", o->dev_nonce, m->dr,
            m->toa_ms);
}

void modem_handle_line(struct modem *m, const char *line, double now_ms)
{
    unsigned long v;
    if (strcmp(line, "AT") == 0) {
        reply(m, "OK");
    } else if (strcmp(line, "AT+VER?") == 0) {
        reply(m, "+VER:" MODEM_VERSION);
        reply(m, "OK");
    } else if (strcmp(line, "AT+DEVADDR?") == 0) {
        char text[32];
        snprintf(text, sizeof(text), "+DEVADDR:%08X", (unsigned)m->session.dev_addr);
        reply(m, text);
        reply(m, "OK");
    } else if (strcmp(line, "AT+NJS?") == 0) {
        reply_number(m, "+NJS:", m->joined ? 1ul : 0ul);
        reply(m, "OK");
    } else if (strcmp(line, "AT+DR?") == 0) {
        reply_number(m, "+DR:", m->dr);
        reply(m, "OK");
    } else if (strncmp(line, "AT+DR=", 6) == 0) {
        if (parse_uint(line + 6, EU868_DR_COUNT - 1, &v)) {
            m->dr = (unsigned)v;
            reply(m, "OK");
        } else {
            error(m, 2);
        }
    } else if (m->radio != RADIO_IDLE &&
               (strcmp(line, "AT+JOIN") == 0 || strncmp(line, "AT+SEND=", 8) == 0 ||
                strncmp(line, "AT+CSEND=", 9) == 0)) {
        error(m, 4);
    } else if (strcmp(line, "AT+JOIN") == 0 && m->otaa.enabled) {
        start_join(m, now_ms);
    } else if (strcmp(line, "AT+JOIN") == 0) {
        /* ABP: the session keys are configured, so joining only switches the MAC on. */
        reply(m, "OK");
        m->joined = true;
        reply(m, "+JOIN:OK");
    } else if (strncmp(line, "AT+SEND=", 8) == 0) {
        start_send(m, line + 8, false, now_ms);
    } else if (strncmp(line, "AT+CSEND=", 9) == 0) {
        start_send(m, line + 9, true, now_ms);
    } else {
        error(m, 1);
    }
}

/* The concentrator's view of our frame, for the packet forwarder. */
static void forward_frame(struct modem *m)
{
    const struct eu868_dr *dr = eu868_dr(m->dr);
    struct gwmp_rxpk rx = {0};
    /* "time" to the microsecond, cut (not rounded) as the concentrator's clock would read */
    double at_s = m->epoch_unix_s + m->tx_end_ms / 1000.0, whole_s = floor(at_s);
    rx.has_time = true;
    rx.time_unix_us = (int64_t)whole_s * 1000000 + (int64_t)((at_s - whole_s) * 1e6);
    rx.tmst_us = (uint32_t)(uint64_t)(m->tx_end_ms * 1000.0);
    rx.freq_hz = (uint32_t)lround(eu868_channels_mhz[m->channel] * 1e6);
    rx.chan = (uint8_t)m->channel;
    airtime_datr(dr->sf, dr->bandwidth_khz, rx.datr, sizeof(rx.datr));
    snprintf(rx.codr, sizeof(rx.codr), "4/5");
    rx.rssi_dbm = (int16_t)m->uplink_rssi_dbm;
    rx.lsnr_db = m->uplink_snr_db;
    memcpy(rx.data, m->frame, m->frame_len);
    rx.size = m->frame_len;
    m->io.forward(m->io.ctx, &rx);
}

/* The receive windows closed (or a downlink ended them): the final result. */
static void finish_send(struct modem *m)
{
    m->radio = RADIO_IDLE;
    if (m->joining) {
        m->joining = false;
        fprintf(stderr, "modem-sim: no join-accept in RX1 or RX2\n");
        reply(m, "+JOIN:FAIL");
        return;
    }
    if (m->confirmed && !m->acked) {
        error(m, 7);
        return;
    }
    if (m->confirmed)
        reply(m, "+ACK");
    reply(m, "OK");
}

double modem_poll(struct modem *m, double now_ms)
{
    if (m->radio == RADIO_TX && now_ms >= m->tx_end_ms) {
        forward_frame(m);
        m->radio = RADIO_RX;
        m->rx_end_ms =
            m->tx_end_ms + (m->joining ? JOIN_RX2_DELAY_MS : RX2_DELAY_MS) + RX_WINDOW_MS;
    }
    if (m->radio == RADIO_RX && now_ms >= m->rx_end_ms)
        finish_send(m);
    if (m->radio == RADIO_TX)
        return m->tx_end_ms;
    if (m->radio == RADIO_RX)
        return m->rx_end_ms;
    return -1.0;
}

/* A frame heard in a join's receive windows: the session starts only with a valid accept;
 * anything else is ignored and the modem keeps listening until RX2 closes. */
static const char *join_downlink(struct modem *m, const uint8_t *phy, size_t len)
{
    struct lorawan_join_accept acc;
    enum lorawan_status st = lorawan_open_join_accept(phy, len, m->otaa.app_key, &acc);
    struct lorawan_session s = {.dev_addr = acc.dev_addr};
    if (st == LORAWAN_OK &&
        !lorawan_derive_session_keys(m->otaa.app_key, acc.app_nonce, acc.net_id, m->otaa.dev_nonce,
                                     s.nwk_s_key, s.app_s_key))
        st = LORAWAN_CRYPTO_FAILED;
    if (st != LORAWAN_OK) {
        fprintf(stderr, "modem-sim: join-accept refused: %s\n", lorawan_status_name(st));
        return "NONE";
    }
    m->session = s;
    OPENSSL_cleanse(&s, sizeof(s));
    m->joining = false;
    m->joined = true;
    m->ack_downlink = false;
    m->joins_accepted++;
    m->radio = RADIO_IDLE;
    fprintf(stderr, "modem-sim: joined devaddr=%08X net_id=%06X\n", (unsigned)acc.dev_addr,
            (unsigned)acc.net_id);
    reply(m, "+JOIN:OK");
    return "NONE";
}

const char *modem_downlink(struct modem *m, const uint8_t *phy, size_t len, double now_ms)
{
    modem_poll(m, now_ms); /* the radio's state as of now */
    if (m->radio != RADIO_RX) {
        fprintf(stderr, "modem-sim: downlink with no receive window open: dropped\n");
        return "TOO_LATE";
    }
    if (m->joining)
        return join_downlink(m, phy, len);
    struct session_downlink dl;
    enum session_rx_status st = session_open_downlink(&m->session, phy, len, &dl);
    if (st != SESSION_RX_OK) {
        /* The radio heard it but the MAC refuses it, as a real modem would, silently. */
        fprintf(stderr, "modem-sim: downlink refused: %s\n", session_rx_status_name(st));
        return "NONE";
    }
    m->downlinks++;
    if (dl.ack)
        m->acked = true;
    if (dl.confirmed)
        m->ack_downlink = true;
    if (dl.has_port && dl.fport != 0) {
        char line[32 + 2 * LORAWAN_PHY_MAX_BYTES];
        int n = snprintf(line, sizeof(line), "+RECV=%u,%d,%d:", dl.fport, m->downlink_rssi_dbm,
                         m->downlink_snr_db);
        for (size_t i = 0; i < dl.len; i++)
            n += snprintf(line + n, sizeof(line) - (size_t)n, "%02X", dl.payload[i]);
        reply(m, line);
    }
    fprintf(stderr, "modem-sim: downlink fcnt=%u port=%u len=%zu%s\n", dl.fcnt,
            dl.has_port ? dl.fport : 0u, dl.len, dl.ack ? " ack" : "");
    finish_send(m); /* a downlink in RX1 means RX2 is not opened */
    return "NONE";
}
