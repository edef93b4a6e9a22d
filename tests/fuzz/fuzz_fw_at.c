/*
 * fuzz_fw_at.c - any bytes as what the LoRaWAN modem sends on the node's UART, fed to the
 * AT driver (firmware/core/at_modem.c, at_parse.c) as the board would hand it over: a few
 * bytes per poll, the clock moving on between polls, while the driver works through a cycle
 * of commands (AT, AT+JOIN, AT+DR?, AT+SEND, AT+CSEND) with a timeout and a retry each. A
 * +RECV line goes to downlink_parse, as node.c hands it on.
 *
 * Invariants beyond the sanitizers:
 * - the driver is always in one of its states, and a finished command has one of the
 *   results (OK with no error code, ERROR, TIMEOUT), a data rate 0-15 if any;
 * - the lines the driver assembles are the input's lines: the number of garbage lines and
 *   of unsolicited lines (+JOIN, +RECV) it reports equals what at_parse_line says of each
 *   line of the input split here independently (a '\n' ends a line, a '\r' before it is
 *   dropped, a line longer than the driver's buffer is garbage as a whole);
 * - an unsolicited +RECV has a port 1-223, rssi -200..0, snr -40..40 and at most
 *   AT_RECV_MAX_BYTES of payload inside the line, and its payload passes fw_checks.c's
 *   Downlink invariants; +JOIN says joined or not;
 * - what the driver writes is, line by line, exactly the command it was asked to send.
 */
#include <string.h>

#include "at_modem.h"
#include "board.h"

#include "fuzz_support.h"
#include "fw_checks.h"

#define BYTES_PER_POLL 7  /* what one UART interrupt's worth may be */
#define MS_PER_POLL    10 /* so that a command times out after 10 silent polls */
#define TIMEOUT_MS     100

/* ---- the board: the modem side of the UART ---- */

static const uint8_t *uart_data;
static size_t uart_len, uart_pos, uart_budget;
static char written[512];
static size_t written_len;

size_t board_modem_read(uint8_t *buf, size_t capacity)
{
    size_t n = uart_len - uart_pos;
    if (n > uart_budget)
        n = uart_budget;
    if (n > capacity)
        n = capacity;
    memcpy(buf, uart_data + uart_pos, n);
    uart_pos += n;
    uart_budget -= n;
    return n;
}

bool board_modem_write(const uint8_t *data, size_t len)
{
    FUZZ_CHECK(written_len + len < sizeof(written), "a command of more than %zu bytes",
               sizeof(written));
    memcpy(written + written_len, data, len);
    written_len += len;
    return true;
}

/* ---- the commands ---- */

static const uint8_t send_payload[] = {0x08, 0x2a, 0x10, 0xac, 0x02, 0x22, 0x02, 0x90, 0x1c};

struct step {
    enum at_command command;
    const char *line; /* what must be written */
};

static const struct step steps[] = {
    {AT_CMD_PROBE, "AT\r\n"},
    {AT_CMD_JOIN, "AT+JOIN\r\n"},
    {AT_CMD_DR_QUERY, "AT+DR?\r\n"},
    {AT_CMD_SEND, "AT+SEND=1:082A10AC022202901C\r\n"},
    {AT_CMD_CSEND, "AT+CSEND=1:082A10AC022202901C\r\n"},
};

/* Every line written since the command started is that command. */
static void check_written(const struct step *s)
{
    size_t n = strlen(s->line);
    FUZZ_CHECK(written_len % n == 0, "wrote %zu bytes for \"%s\"", written_len, s->line);
    for (size_t at = 0; at < written_len; at += n)
        FUZZ_CHECK(memcmp(written + at, s->line, n) == 0, "wrote %.*s", (int)written_len, written);
}

static void start(struct at_modem *m, uint32_t now_ms, size_t k)
{
    const struct step *s = &steps[k % (sizeof(steps) / sizeof(steps[0]))];
    written_len = 0;
    bool ok = s->command == AT_CMD_SEND || s->command == AT_CMD_CSEND
                  ? at_modem_send(m, now_ms, 1, s->command == AT_CMD_CSEND, send_payload,
                                  sizeof(send_payload), TIMEOUT_MS, 2)
                  : at_modem_start(m, now_ms, s->command, TIMEOUT_MS, 2);
    FUZZ_CHECK(ok && m->state == AT_WAITING, "the command did not start");
    check_written(s);
}

/* ---- the unsolicited lines ---- */

struct seen {
    struct at_modem *modem;
    unsigned unsolicited;
};

static void on_line(void *ctx, const struct at_line *line)
{
    struct seen *seen = ctx;
    seen->unsolicited++;
    FUZZ_CHECK(line->kind == AT_LINE_JOIN || line->kind == AT_LINE_RECV, "unsolicited kind %d",
               (int)line->kind);
    if (line->kind != AT_LINE_RECV)
        return;
    FUZZ_CHECK(line->u.recv.port >= 1 && line->u.recv.port <= 223, "port %u", line->u.recv.port);
    FUZZ_CHECK(line->u.recv.rssi_dbm >= -200 && line->u.recv.rssi_dbm <= 0, "rssi %d",
               line->u.recv.rssi_dbm);
    FUZZ_CHECK(line->u.recv.snr_db >= -40 && line->u.recv.snr_db <= 40, "snr %d",
               line->u.recv.snr_db);
    FUZZ_CHECK(line->u.recv.len <= AT_RECV_MAX_BYTES, "payload %zu", line->u.recv.len);
    const char *buf = seen->modem->line;
    FUZZ_CHECK(line->u.recv.len == 0 || ((const char *)line->u.recv.payload >= buf &&
                                         (const char *)line->u.recv.payload + line->u.recv.len <=
                                             buf + sizeof(seen->modem->line)),
               "payload outside the line");
    struct node_config defaults, next;
    config_defaults(&defaults);
    fw_check_downlink(line->u.recv.payload, line->u.recv.len, &defaults, &next);
}

/* ---- the input's lines, as the driver should see them ---- */

struct expected {
    unsigned garbage, unsolicited;
};

static struct expected split_lines(const uint8_t *data, size_t size, size_t buffer_size)
{
    static char line[AT_LINE_MAX + 2];
    struct expected e = {0, 0};
    size_t start = 0;
    for (size_t i = 0; i < size; i++) {
        if (data[i] != '\n')
            continue;
        size_t len = i - start;
        if (len > buffer_size) {
            e.garbage++;
        } else {
            memcpy(line, data + start, len);
            if (len > 0 && line[len - 1] == '\r')
                len--;
            struct at_line l;
            at_parse_line(line, len, &l);
            e.garbage += l.kind == AT_LINE_GARBAGE;
            e.unsolicited += l.kind == AT_LINE_JOIN || l.kind == AT_LINE_RECV;
        }
        start = i + 1;
    }
    return e;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct at_modem m;
    struct seen seen = {.modem = &m, .unsolicited = 0};
    at_modem_init(&m, on_line, &seen);
    uart_data = data;
    uart_len = size;
    uart_pos = 0;
    uint32_t now_ms = 0xfffff000u; /* the clock wraps during the run */
    size_t k = 0;
    start(&m, now_ms, k);
    /* a bounded number of polls: the input, then enough silence for every timeout */
    size_t polls = size / BYTES_PER_POLL + 2 * (TIMEOUT_MS / MS_PER_POLL) * 2 + 4;
    for (size_t p = 0; p < polls; p++) {
        uart_budget = BYTES_PER_POLL;
        at_modem_poll(&m, now_ms);
        FUZZ_CHECK(m.state == AT_IDLE || m.state == AT_WAITING || m.state == AT_DONE, "state %d",
                   (int)m.state);
        FUZZ_CHECK(m.line_len <= sizeof(m.line), "line_len %zu", m.line_len);
        const struct step *s = &steps[k % (sizeof(steps) / sizeof(steps[0]))];
        check_written(s);
        if (m.state == AT_DONE) {
            FUZZ_CHECK(m.result == AT_RESULT_OK || m.result == AT_RESULT_ERROR ||
                           m.result == AT_RESULT_TIMEOUT,
                       "result %d", (int)m.result);
            FUZZ_CHECK(m.result != AT_RESULT_OK || m.error_code == 0, "OK with an error code");
            FUZZ_CHECK(!m.have_dr || m.dr <= 15, "dr %u", m.dr);
            at_modem_finish(&m);
            FUZZ_CHECK(m.state == AT_IDLE, "finish");
            if (uart_pos < uart_len)
                start(&m, now_ms, ++k);
        }
        now_ms += MS_PER_POLL;
    }
    FUZZ_CHECK(uart_pos == uart_len, "%zu of %zu bytes read", uart_pos, uart_len);
    struct expected e = split_lines(data, size, sizeof(m.line));
    FUZZ_CHECK(m.garbage_lines == e.garbage, "%u garbage lines, expected %u", m.garbage_lines,
               e.garbage);
    FUZZ_CHECK(seen.unsolicited == e.unsolicited, "%u unsolicited lines, expected %u",
               seen.unsolicited, e.unsolicited);
    return 0;
}
