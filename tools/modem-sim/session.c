/*
 * session.c - the device's LoRaWAN 1.0.x session (session.h) on top of the shared frame
 * and crypto library.
 */
#include "session.h"

#include <string.h>

size_t session_build_uplink(const struct lorawan_session *s, bool confirmed, uint8_t fctrl,
                            uint8_t fport, const uint8_t *payload, size_t len, uint8_t *out,
                            size_t out_size)
{
    return lorawan_build_data(confirmed ? LORAWAN_CONFIRMED_UP : LORAWAN_UNCONFIRMED_UP,
                              s->dev_addr, fctrl, s->fcnt_up, NULL, 0, true, fport, payload, len,
                              s->nwk_s_key, s->app_s_key, out, out_size);
}

enum session_rx_status session_open_downlink(struct lorawan_session *s, const uint8_t *phy,
                                             size_t len, struct session_downlink *out)
{
    struct lorawan_data_frame f;
    if (lorawan_parse_data(phy, len, &f) != LORAWAN_OK)
        return SESSION_RX_MALFORMED;
    if ((f.mtype != LORAWAN_UNCONFIRMED_DOWN && f.mtype != LORAWAN_CONFIRMED_DOWN) ||
        f.dev_addr != s->dev_addr)
        return SESSION_RX_NOT_FOR_US;
    uint32_t fcnt = lorawan_rebuild_fcnt(s->have_fcnt_down, s->fcnt_down, f.fcnt16);
    enum lorawan_status st = lorawan_check_data_mic(&f, s->nwk_s_key, LORAWAN_DOWN, fcnt);
    if (st == LORAWAN_CRYPTO_FAILED)
        return SESSION_RX_MALFORMED;
    if (st != LORAWAN_OK) {
        /* Not valid as a new frame; valid with the counter of one already taken? Then it
         * is a replay, worth telling apart from noise in the log. */
        uint32_t old = (s->fcnt_down & 0xFFFF0000u) | f.fcnt16;
        if (s->have_fcnt_down && old <= s->fcnt_down &&
            lorawan_check_data_mic(&f, s->nwk_s_key, LORAWAN_DOWN, old) == LORAWAN_OK)
            return SESSION_RX_REPLAY;
        return SESSION_RX_BAD_MIC;
    }

    memset(out, 0, sizeof(*out));
    out->confirmed = f.mtype == LORAWAN_CONFIRMED_DOWN;
    out->ack = (f.fctrl & LORAWAN_FCTRL_ACK) != 0;
    out->fcnt = fcnt;
    if (f.has_fport) {
        out->has_port = true;
        out->fport = f.fport;
        out->len = f.frm_payload_len;
        if (out->len > 0)
            memcpy(out->payload, f.frm_payload, out->len);
        const uint8_t *key = f.fport == 0 ? s->nwk_s_key : s->app_s_key;
        if (!lorawan_crypt_frm_payload(key, LORAWAN_DOWN, s->dev_addr, fcnt, out->payload,
                                       out->len))
            return SESSION_RX_MALFORMED;
    }
    s->fcnt_down = fcnt;
    s->have_fcnt_down = true;
    return SESSION_RX_OK;
}

const char *session_rx_status_name(enum session_rx_status status)
{
    switch (status) {
    case SESSION_RX_OK:
        return "ok";
    case SESSION_RX_MALFORMED:
        return "malformed";
    case SESSION_RX_NOT_FOR_US:
        return "not for this device";
    case SESSION_RX_BAD_MIC:
        return "bad MIC";
    case SESSION_RX_REPLAY:
        return "replayed FCnt";
    }
    return "?";
}
