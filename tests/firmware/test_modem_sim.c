/*
 * test_modem_sim.c - the modem simulator's pieces (tools/modem-sim): known-answer tests of
 * its LoRaWAN 1.0.x device session (frames and crypto from sensorbro_lorawan, whose own
 * tests are tests/unit/test_lorawan.c), an OTAA join against a scripted network server over
 * loopback UDP, Semtech's time-on-air formula against published values, the
 * duty cycle, and the AT command set with its errors. The GWMP datagrams are the gateway's
 * own codec's (lorawan/gwmp.c), tested in tests/unit/test_gwmp.c.
 *
 * Known answers come from outside this project's C code:
 * - the uplink 40F17DBE4900020001954378762B11FF0D ("test" on FPort 1, FCnt 2) is the
 *   example published with the lora-packet library, with its NwkSKey and AppSKey;
 * - the other frames were computed with the openssl command line (AES-128-ECB key stream,
 *   `openssl mac -cipher AES-128-CBC ... CMAC`) by tests/firmware/lorawan_tool.py, e.g.
 *     lorawan_tool.py downlink --keys K --fcnt 5 --port 1 --payload 0807103C
 * - times on air: 2793.472 ms for 64 bytes at SF12/125 kHz (a 51-byte payload), 164.864 ms
 *   for 13 bytes at SF9/125, 41.216 ms for 10 bytes at SF7/125 and 577.536 ms for 10 bytes
 *   at SF11/125 are the values of Semtech's LoRa calculator as published in the
 *   AN1200.13-based airtime spreadsheets and calculators.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <poll.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <openssl/evp.h>

#include "airtime.h"
#include "lorawan/gwmp.h"
#include "session.h"
#include "modem.h"

static void from_hex(const char *hex, uint8_t *out, size_t *len)
{
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(&hex[2 * i], "%2x", &v);
        out[i] = (uint8_t)v;
    }
    *len = n;
}

static void session(struct lorawan_session *s, uint32_t dev_addr)
{
    size_t n;
    memset(s, 0, sizeof(*s));
    s->dev_addr = dev_addr;
    from_hex("44024241ED4CE9A68C6A8BC055233FD3", s->nwk_s_key, &n);
    from_hex("EC925802AE430CA77FD3DD73CB2CC588", s->app_s_key, &n);
}

static void expect_frame(const uint8_t *frame, size_t len, const char *hex)
{
    uint8_t want[LORAWAN_PHY_MAX_BYTES];
    size_t want_len;
    from_hex(hex, want, &want_len);
    assert_int_equal(len, want_len);
    assert_memory_equal(frame, want, len);
}

static void test_published_uplink_vector(void **state)
{
    (void)state;
    struct lorawan_session s;
    session(&s, 0x49BE7DF1);
    s.fcnt_up = 2;
    uint8_t out[LORAWAN_PHY_MAX_BYTES];
    size_t len =
        session_build_uplink(&s, false, 0, 1, (const uint8_t *)"test", 4, out, sizeof(out));
    expect_frame(out, len, "40F17DBE4900020001954378762B11FF0D");
}

static void test_openssl_uplink_vectors(void **state)
{
    (void)state;
    struct lorawan_session s;
    session(&s, 0x26011BDA);
    uint8_t payload[40], out[LORAWAN_PHY_MAX_BYTES];
    for (int i = 0; i < 40; i++)
        payload[i] = (uint8_t)i;
    s.fcnt_up = 3; /* three key-stream blocks, confirmed */
    size_t len = session_build_uplink(&s, true, 0, 7, payload, 40, out, sizeof(out));
    expect_frame(out, len,
                 "80DA1B012600030007E32CD7ACBB88DE66C6810EBD1BBA3693027CA2AAD0309F4462D96C3BD3D2"
                 "04B17DD16D95E597FED0074BB1BC");
    s.fcnt_up = 70000; /* 32-bit counter in the crypto, its low 16 bits on air */
    len = session_build_uplink(&s, true, 0, 7, payload, 40, out, sizeof(out));
    expect_frame(out, len,
                 "80DA1B01260070110774C2979EB3F44E4F2D59F49EDA6128EBACDEF07BB878984F15B55087A59A"
                 "8962F7EA3A479408918B44BA00B0");
    assert_int_equal(session_build_uplink(&s, false, 0, 1, payload, 40, out, 52), 0);
}

static void test_downlinks_opened_and_checked(void **state)
{
    (void)state;
    struct lorawan_session s;
    session(&s, 0x26011BDA);
    uint8_t phy[LORAWAN_PHY_MAX_BYTES];
    size_t len;
    struct session_downlink dl;
    from_hex("60DA1B01260005000105E76D4A75B39BBD", phy, &len);
    assert_int_equal(session_open_downlink(&s, phy, len, &dl), SESSION_RX_OK);
    assert_false(dl.confirmed);
    assert_true(dl.has_port);
    assert_int_equal(dl.fport, 1);
    assert_int_equal(dl.fcnt, 5);
    static const uint8_t plain[] = {0x08, 0x07, 0x10, 0x3C};
    assert_int_equal(dl.len, 4);
    assert_memory_equal(dl.payload, plain, 4);
    /* The same frame again is a replay. */
    assert_int_equal(session_open_downlink(&s, phy, len, &dl), SESSION_RX_REPLAY);
    /* A flipped bit anywhere fails the MIC. */
    for (size_t i = 5; i < len; i++) {
        phy[i] ^= 0x01;
        assert_int_equal(session_open_downlink(&s, phy, len, &dl), SESSION_RX_BAD_MIC);
        phy[i] ^= 0x01;
    }
    from_hex("A0DA1B012620060001133DAD2E842F", phy, &len);
    assert_int_equal(session_open_downlink(&s, phy, len, &dl), SESSION_RX_OK);
    assert_true(dl.confirmed);
    assert_true(dl.ack);
    /* Not ours, not a downlink, too short. */
    phy[1] ^= 0xFF;
    assert_int_equal(session_open_downlink(&s, phy, len, &dl), SESSION_RX_NOT_FOR_US);
    phy[0] = 0x40;
    assert_int_equal(session_open_downlink(&s, phy, len, &dl), SESSION_RX_NOT_FOR_US);
    assert_int_equal(session_open_downlink(&s, phy, 11, &dl), SESSION_RX_MALFORMED);
    phy[0] = 0x60;
    phy[1] ^= 0xFF;
    phy[5] = 0x0F; /* 15 bytes of FOpts in a 15-byte frame */
    assert_int_equal(session_open_downlink(&s, phy, len, &dl), SESSION_RX_MALFORMED);
}

static void test_time_on_air(void **state)
{
    (void)state;
    assert_float_equal(airtime_ms(64, 12, 125), 2793.472, 1e-6);
    assert_float_equal(airtime_ms(13, 9, 125), 164.864, 1e-6);
    assert_float_equal(airtime_ms(10, 7, 125), 41.216, 1e-6);
    assert_float_equal(airtime_ms(10, 11, 125), 577.536, 1e-6);
    assert_float_equal(airtime_ms(20, 7, 125), 56.576, 1e-6);
    assert_true(airtime_ms(64, 7, 250) < airtime_ms(64, 7, 125));
    char datr[16];
    airtime_datr(12, 125, datr, sizeof(datr));
    assert_string_equal(datr, "SF12BW125");
    assert_int_equal(eu868_dr(0)->max_payload, 51);
    assert_int_equal(eu868_dr(3)->max_payload, 115);
    assert_int_equal(eu868_dr(4)->max_payload, 242);
    assert_null(eu868_dr(7));
}

static void test_duty_cycle(void **state)
{
    (void)state;
    struct duty_cycle d = {0};
    assert_float_equal(duty_cycle_wait_ms(&d, 0), 0, 0);
    duty_cycle_record(&d, 2793.472, 2793.472);
    /* 1 %: 2.79 s on air close the band for 99 times that. */
    assert_float_equal(duty_cycle_wait_ms(&d, 2793.472), 99 * 2793.472, 1e-6);
    assert_float_equal(duty_cycle_wait_ms(&d, 2793.472 * 100), 0, 0);
}

/* --- the AT set ---------------------------------------------------------------------- */

static char replies[4096];
static unsigned forwarded;

static void reply(void *ctx, const char *line)
{
    (void)ctx;
    strncat(replies, line, sizeof(replies) - strlen(replies) - 2);
    strcat(replies, "|");
}

static void forward(void *ctx, const struct gwmp_rxpk *rx)
{
    (void)ctx;
    assert_true(rx->size >= 13);
    forwarded++;
}

static void at(struct modem *m, const char *line, double now_ms, const char *expect)
{
    replies[0] = '\0';
    modem_handle_line(m, line, now_ms);
    assert_string_equal(replies, expect);
}

static void test_at_commands(void **state)
{
    (void)state;
    struct modem m;
    memset(&m, 0, sizeof(m));
    struct modem_io io = {.reply = reply, .forward = forward};
    modem_init(&m, &io);
    session(&m.session, 0x26011BDA);
    forwarded = 0;
    at(&m, "AT", 0, "OK|");
    at(&m, "AT+VER?", 0, "+VER:" MODEM_VERSION "|OK|");
    at(&m, "AT+DEVADDR?", 0, "+DEVADDR:26011BDA|OK|");
    at(&m, "AT+BOGUS", 0, "ERROR:1|");
    at(&m, "AT+SEND=1:00", 0, "ERROR:3|"); /* not joined */
    at(&m, "AT+NJS?", 0, "+NJS:0|OK|");
    at(&m, "AT+JOIN", 0, "OK|+JOIN:OK|");
    at(&m, "AT+DR=7", 0, "ERROR:2|");
    at(&m, "AT+DR=x", 0, "ERROR:2|");
    at(&m, "AT+DR=0", 0, "OK|");
    at(&m, "AT+DR?", 0, "+DR:0|OK|");
    at(&m, "AT+SEND=0:00", 0, "ERROR:2|");
    at(&m, "AT+SEND=224:00", 0, "ERROR:2|");
    at(&m, "AT+SEND=1:0", 0, "ERROR:2|");
    at(&m, "AT+SEND=1:zz", 0, "ERROR:2|");
    at(&m, "AT+SEND=1", 0, "ERROR:2|");
    char line[256] = "AT+SEND=1:";
    for (int i = 0; i < 52; i++)
        strcat(line, "AB");
    at(&m, line, 0, "ERROR:5|"); /* 52 bytes at DR0 */
    line[10 + 102] = '\0';
    at(&m, line, 0, ""); /* 51 bytes: on air now */
    at(&m, "AT+SEND=1:00", 1, "ERROR:4|");
    replies[0] = '\0';
    double toa = airtime_ms(13 + 51, 12, 125);
    assert_true(modem_poll(&m, 0) >= toa - 1e-9);
    modem_poll(&m, toa);
    assert_int_equal(forwarded, 1);
    assert_string_equal(replies, "");
    modem_poll(&m, toa + RX2_DELAY_MS + RX_WINDOW_MS);
    assert_string_equal(replies, "OK|");
    /* The band is closed for 99 times the time on air. */
    at(&m, "AT+SEND=1:00", toa + 3000, "+DUTY:273554|ERROR:6|");
    assert_string_equal(replies, "+DUTY:273554|ERROR:6|");
    /* A confirmed uplink without an ACK. */
    double t = toa * 100 + 1;
    at(&m, "AT+CSEND=2:00", t, "");
    modem_poll(&m, t + 2000); /* on air 1.2 s */
    replies[0] = '\0';
    modem_poll(&m, t + 2000 + RX2_DELAY_MS + RX_WINDOW_MS);
    assert_string_equal(replies, "ERROR:7|");
    /* A downlink outside any receive window is too late. */
    uint8_t phy[64];
    size_t len;
    from_hex("60DA1B01260005000105E76D4A75B39BBD", phy, &len);
    assert_string_equal(modem_downlink(&m, phy, len, t + 9000), "TOO_LATE");
    /* Inside one it becomes +RECV and ends the send. */
    t += 1e6;
    at(&m, "AT+SEND=1:00", t, "");
    modem_poll(&m, t + 500);
    replies[0] = '\0';
    assert_string_equal(modem_downlink(&m, phy, len, t + 1500), "NONE");
    assert_string_equal(replies, "+RECV=1,0,0:0807103C|OK|");
}

/* --- OTAA against a scripted network side over real UDP ---------------------------------- */

/* The test's two ends: the modem's forwarder socket and the network server's, connected to
 * each other on loopback. */
static struct {
    int modem_fd, network_fd;
    uint8_t app_key[16];
    uint32_t last_dev_nonce;
    bool have_dev_nonce;
    unsigned join_requests;
    bool answer;        /* answer the next Join-Request */
    bool wrong_key;     /* ... with an accept under another AppKey */
    uint32_t app_nonce; /* of the next accept */
} net;

static void udp_pair(void)
{
    int fds[2];
    struct sockaddr_in addr[2];
    for (int i = 0; i < 2; i++) {
        fds[i] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        assert_true(fds[i] >= 0);
        memset(&addr[i], 0, sizeof(addr[i]));
        addr[i].sin_family = AF_INET;
        addr[i].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(bind(fds[i], (struct sockaddr *)&addr[i], sizeof(addr[i])), 0);
        socklen_t len = sizeof(addr[i]);
        assert_int_equal(getsockname(fds[i], (struct sockaddr *)&addr[i], &len), 0);
    }
    assert_int_equal(connect(fds[0], (struct sockaddr *)&addr[1], sizeof(addr[1])), 0);
    assert_int_equal(connect(fds[1], (struct sockaddr *)&addr[0], sizeof(addr[0])), 0);
    net.modem_fd = fds[0];
    net.network_fd = fds[1];
}

/* One datagram from fd within a bounded wait; 0 when none came. */
static size_t udp_recv(int fd, uint8_t *buf, size_t size)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 2000) != 1)
        return 0;
    ssize_t n = recv(fd, buf, size, 0);
    assert_true(n > 0);
    return (size_t)n;
}

/* modem_io.forward: the packet forwarder's PUSH_DATA, on the wire. */
static void forward_udp(void *ctx, const struct gwmp_rxpk *rx)
{
    (void)ctx;
    uint8_t eui[8] = {0xAA, 0x55, 0x5A, 0, 0, 0, 0, 1}, buf[2048];
    size_t len = gwmp_build_push_data(0x1234, eui, rx, 1, NULL, buf, sizeof(buf));
    assert_true(len > 0);
    assert_int_equal(send(net.modem_fd, buf, len, 0), (ssize_t)len);
    forwarded++;
}

/* The network server: takes one PUSH_DATA, checks the Join-Request in it (MIC, DevNonce
 * never seen before from this device) and answers it as a PULL_RESP for RX1. */
static void network_serve(void)
{
    uint8_t buf[2048];
    size_t n = udp_recv(net.network_fd, buf, sizeof(buf) - 1);
    assert_true(n > 12);
    buf[n] = '\0';
    assert_int_equal(buf[3], GWMP_PUSH_DATA);
    cJSON *root = cJSON_Parse((const char *)&buf[12]);
    cJSON *pk = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "rxpk"), 0);
    const char *b64 = cJSON_GetObjectItem(pk, "data")->valuestring;
    double tmst = cJSON_GetObjectItem(pk, "tmst")->valuedouble;
    uint8_t phy[64];
    int phy_len = EVP_DecodeBlock(phy, (const unsigned char *)b64, (int)strlen(b64));
    assert_int_equal(phy_len, 24); /* 23 bytes and one of base64 padding */
    cJSON_Delete(root);

    struct lorawan_join_request req;
    assert_int_equal(lorawan_parse_join_request(phy, 23, &req), LORAWAN_OK);
    assert_int_equal(lorawan_check_join_request_mic(phy, 23, net.app_key), LORAWAN_OK);
    assert_true(req.dev_eui == 0x0004A30B001C0530ull);
    assert_true(req.join_eui == 0x70B3D57ED0000001ull);
    if (net.have_dev_nonce)
        assert_true(req.dev_nonce > net.last_dev_nonce);
    net.last_dev_nonce = req.dev_nonce;
    net.have_dev_nonce = true;
    net.join_requests++;
    if (!net.answer)
        return;

    uint8_t key[16];
    memcpy(key, net.app_key, 16);
    if (net.wrong_key)
        key[0] ^= 0x01;
    struct lorawan_join_accept acc = {
        .app_nonce = net.app_nonce, .net_id = 0x000013, .dev_addr = 0x26012345, .rx_delay_s = 1};
    uint8_t ja[33];
    size_t ja_len = lorawan_build_join_accept(&acc, key, ja, sizeof(ja));
    assert_int_equal(ja_len, 17);
    char b64_ja[64];
    EVP_EncodeBlock((unsigned char *)b64_ja, ja, (int)ja_len);
    char resp[512];
    int len = snprintf(resp, sizeof(resp),
                       "\x02\x56\x78\x03{\"txpk\":{\"imme\":false,\"tmst\":%.0f,\"freq\":868.1,"
                       "\"powe\":14,\"modu\":\"LORA\",\"datr\":\"SF12BW125\",\"codr\":\"4/5\","
                       "\"ipol\":true,\"size\":%zu,\"data\":\"%s\"}}",
                       tmst + LORAWAN_JOIN_ACCEPT_DELAY1_MS * 1000.0, ja_len, b64_ja);
    assert_int_equal(send(net.network_fd, resp, (size_t)len, 0), len);
}

/* The modem's side of a PULL_RESP: read it from the socket, hand it to the radio. */
static const char *modem_take_pull_resp(struct modem *m, double now_ms)
{
    uint8_t buf[2048];
    size_t n = udp_recv(net.modem_fd, buf, sizeof(buf));
    if (n == 0)
        return NULL;
    struct gwmp_txpk tx;
    enum gwmp_drop why;
    assert_int_equal(buf[3], GWMP_PULL_RESP);
    assert_int_equal(gwmp_parse_pull_resp(buf, n, &tx, &why), 0);
    return modem_downlink(m, tx.data, tx.size, now_ms);
}

static void otaa_modem(struct modem *m)
{
    memset(m, 0, sizeof(*m));
    struct modem_io io = {.reply = reply, .forward = forward_udp};
    modem_init(m, &io);
    m->dr = 5; /* SF7: short frames keep the duty cycle out of the way */
    m->otaa.enabled = true;
    m->otaa.dev_eui = 0x0004A30B001C0530ull;
    m->otaa.join_eui = 0x70B3D57ED0000001ull;
    size_t n;
    from_hex("2B7E151628AED2A6ABF7158809CF4F3C", m->otaa.app_key, &n);
    memcpy(net.app_key, m->otaa.app_key, 16);
    m->otaa.next_dev_nonce = 0x1000;
}

/* Runs one join: AT+JOIN, the Join-Request on air, the network's answer (if any) taken at
 * now+toa+5 s, then the windows closed. Returns the lines the modem wrote after OK. */
static void join_once(struct modem *m, double *t, const char *expect)
{
    at(m, "AT+JOIN", *t, "OK|");
    assert_true(m->joining);
    double tx_end = modem_poll(m, *t);
    assert_true(tx_end > *t);
    unsigned before = forwarded;
    replies[0] = '\0';
    modem_poll(m, tx_end); /* PUSH_DATA out */
    assert_int_equal(forwarded, before + 1);
    at(m, "AT+NJS?", tx_end, "+NJS:0|OK|");
    network_serve();
    replies[0] = '\0';
    if (net.answer) /* else there is nothing to wait for */
        assert_string_equal(modem_take_pull_resp(m, tx_end + JOIN_RX1_DELAY_MS), "NONE");
    modem_poll(m, tx_end + JOIN_RX2_DELAY_MS + RX_WINDOW_MS);
    assert_string_equal(replies, expect);
    assert_false(m->joining);
    *t = tx_end + JOIN_RX2_DELAY_MS + RX_WINDOW_MS + 200000; /* past the duty-cycle wait */
}

static void test_otaa_join(void **state)
{
    (void)state;
    memset(&net, 0, sizeof(net));
    udp_pair();
    struct modem m;
    otaa_modem(&m);
    forwarded = 0;
    double t = 0;
    at(&m, "AT+SEND=1:00", t, "ERROR:3|");

    /* No answer: +JOIN:FAIL once RX2 closed. */
    join_once(&m, &t, "+JOIN:FAIL|");
    assert_false(m.joined);
    at(&m, "AT+NJS?", t, "+NJS:0|OK|");
    /* An accept under another AppKey is not taken. */
    net.answer = true;
    net.wrong_key = true;
    join_once(&m, &t, "+JOIN:FAIL|");
    assert_false(m.joined);
    /* A valid one is. */
    net.wrong_key = false;
    net.app_nonce = 0x00A1B2;
    join_once(&m, &t, "+JOIN:OK|");
    assert_true(m.joined);
    assert_int_equal(net.join_requests, 3);
    assert_int_equal(net.last_dev_nonce, 0x1002);
    at(&m, "AT+NJS?", t, "+NJS:1|OK|");
    at(&m, "AT+DEVADDR?", t, "+DEVADDR:26012345|OK|");
    uint8_t nwk[16], app[16];
    assert_true(lorawan_derive_session_keys(net.app_key, 0x00A1B2, 0x000013, 0x1002, nwk, app));
    assert_memory_equal(m.session.nwk_s_key, nwk, 16);
    assert_memory_equal(m.session.app_s_key, app, 16);
    assert_int_equal(m.session.fcnt_up, 0);

    /* The session works: the next uplink's MIC checks with the network's NwkSKey. */
    at(&m, "AT+SEND=1:CAFE", t, "");
    double tx_end = modem_poll(&m, t);
    modem_poll(&m, tx_end);
    uint8_t buf[2048];
    size_t n = udp_recv(net.network_fd, buf, sizeof(buf) - 1);
    assert_true(n > 12);
    buf[n] = '\0';
    cJSON *root = cJSON_Parse((const char *)&buf[12]);
    const char *b64 =
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(root, "rxpk"), 0), "data")
            ->valuestring;
    uint8_t phy[64];
    int len = EVP_DecodeBlock(phy, (const unsigned char *)b64, (int)strlen(b64));
    cJSON_Delete(root);
    assert_int_equal(len, 15); /* MHDR..FCnt, FPort, 2 bytes, MIC: no base64 padding */
    struct lorawan_data_frame f;
    assert_int_equal(lorawan_parse_data(phy, 15, &f), LORAWAN_OK);
    assert_int_equal(f.dev_addr, 0x26012345);
    assert_int_equal(lorawan_check_data_mic(&f, nwk, LORAWAN_UP, 0), LORAWAN_OK);
    uint8_t payload[2];
    memcpy(payload, f.frm_payload, 2);
    assert_true(lorawan_crypt_frm_payload(app, LORAWAN_UP, f.dev_addr, 0, payload, 2));
    assert_int_equal(payload[0], 0xCA);
    assert_int_equal(payload[1], 0xFE);
    modem_poll(&m, tx_end + RX2_DELAY_MS + RX_WINDOW_MS);

    /* A new join ends the session at once and takes the next DevNonce. */
    t = tx_end + 1e6;
    net.answer = false;
    join_once(&m, &t, "+JOIN:FAIL|");
    assert_false(m.joined);
    assert_int_equal(net.last_dev_nonce, 0x1003);
    close(net.modem_fd);
    close(net.network_fd);
}

/* Every DevNonce spent, or the store refusing one: the join fails without going on air. */
static bool refuse_nonce(void *ctx, uint16_t dev_nonce)
{
    (void)ctx;
    (void)dev_nonce;
    return false;
}

static void test_otaa_dev_nonces_exhausted(void **state)
{
    (void)state;
    struct modem m;
    otaa_modem(&m);
    m.io.forward = forward;
    m.otaa.next_dev_nonce = 0xFFFF; /* the last one: used, then none is left */
    forwarded = 0;
    at(&m, "AT+JOIN", 0, "OK|");
    double tx_end = modem_poll(&m, 0);
    modem_poll(&m, tx_end);
    assert_int_equal(forwarded, 1);
    replies[0] = '\0';
    modem_poll(&m, tx_end + JOIN_RX2_DELAY_MS + RX_WINDOW_MS);
    assert_string_equal(replies, "+JOIN:FAIL|");
    double t = tx_end + 1e6;
    at(&m, "AT+JOIN", t, "OK|+JOIN:FAIL|");
    assert_int_equal(forwarded, 1);
    m.otaa.dev_nonces_spent = false;
    m.io.dev_nonce_used = refuse_nonce;
    at(&m, "AT+JOIN", t, "OK|+JOIN:FAIL|");
    assert_int_equal(forwarded, 1);
    assert_false(m.joining);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_published_uplink_vector),
        cmocka_unit_test(test_openssl_uplink_vectors),
        cmocka_unit_test(test_downlinks_opened_and_checked),
        cmocka_unit_test(test_time_on_air),
        cmocka_unit_test(test_duty_cycle),
        cmocka_unit_test(test_at_commands),
        cmocka_unit_test(test_otaa_join),
        cmocka_unit_test(test_otaa_dev_nonces_exhausted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
