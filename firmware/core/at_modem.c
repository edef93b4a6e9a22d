/*
 * at_modem.c - the AT driver's state machine, line assembly and command writer
 * (at_modem.h).
 */
#include "at_modem.h"

#include <string.h>

#include "board.h"
#include "hex.h"

/* Reads from the UART this many bytes at a time. */
#define READ_CHUNK 32

static bool time_reached(uint32_t now_ms, uint32_t deadline_ms)
{
    return (int32_t)(now_ms - deadline_ms) >= 0;
}

void at_modem_init(struct at_modem *m, at_unsolicited_fn on_unsolicited, void *ctx)
{
    memset(m, 0, sizeof(*m));
    m->state = AT_IDLE;
    m->on_unsolicited = on_unsolicited;
    m->ctx = ctx;
}

/* A string literal without its NUL. */
#define write_text(literal) board_modem_write((const uint8_t *)(literal), sizeof(literal) - 1)

/* "AT+SEND=<port>:" or the confirmed variant, the payload as hex, the line end. */
static bool write_send(const struct at_modem *m)
{
    char head[sizeof("AT+CSEND=223:")];
    size_t n = 0;
    const char *verb = m->command == AT_CMD_CSEND ? "AT+CSEND=" : "AT+SEND=";
    while (*verb != '\0')
        head[n++] = *verb++;
    if (m->port >= 100)
        head[n++] = (char)('0' + m->port / 100);
    if (m->port >= 10)
        head[n++] = (char)('0' + m->port / 10 % 10);
    head[n++] = (char)('0' + m->port % 10);
    head[n++] = ':';
    if (!board_modem_write((const uint8_t *)head, n))
        return false;
    char chunk[64];
    for (size_t done = 0; done < m->payload_len;) {
        size_t step = m->payload_len - done;
        if (step > sizeof(chunk) / 2)
            step = sizeof(chunk) / 2;
        size_t chars = hex_encode(m->payload + done, step, chunk, sizeof(chunk));
        if (!board_modem_write((const uint8_t *)chunk, chars))
            return false;
        done += step;
    }
    return write_text("\r\n");
}

static bool write_command(const struct at_modem *m)
{
    switch (m->command) {
    case AT_CMD_PROBE:
        return write_text("AT\r\n");
    case AT_CMD_JOIN:
        return write_text("AT+JOIN\r\n");
    case AT_CMD_DR_QUERY:
        return write_text("AT+DR?\r\n");
    case AT_CMD_SEND:
    case AT_CMD_CSEND:
        return write_send(m);
    }
    return false;
}

static void finish_with(struct at_modem *m, enum at_result result)
{
    m->result = result;
    m->state = AT_DONE;
}

/* Sends the command (again) and restarts the timeout. */
static void transmit(struct at_modem *m, uint32_t now_ms)
{
    m->attempts_left--;
    m->have_dr = false;
    m->duty_wait_ms = 0;
    m->acked = false;
    m->error_code = 0;
    m->deadline_ms = now_ms + m->timeout_ms;
    if (!write_command(m))
        finish_with(m, AT_RESULT_LINE_DOWN);
}

static bool begin(struct at_modem *m, uint32_t now_ms, enum at_command command, uint32_t timeout_ms,
                  uint8_t attempts)
{
    if (m->state != AT_IDLE || attempts == 0)
        return false;
    m->command = command;
    m->timeout_ms = timeout_ms;
    m->attempts_left = attempts;
    m->state = AT_WAITING;
    transmit(m, now_ms);
    return true;
}

bool at_modem_start(struct at_modem *m, uint32_t now_ms, enum at_command command,
                    uint32_t timeout_ms, uint8_t attempts)
{
    if (command == AT_CMD_SEND || command == AT_CMD_CSEND)
        return false;
    return begin(m, now_ms, command, timeout_ms, attempts);
}

bool at_modem_send(struct at_modem *m, uint32_t now_ms, uint8_t port, bool confirmed,
                   const uint8_t *payload, size_t len, uint32_t timeout_ms, uint8_t attempts)
{
    if (port < 1 || port > 223 || m->state != AT_IDLE)
        return false;
    m->payload = payload;
    m->payload_len = len;
    m->port = port;
    return begin(m, now_ms, confirmed ? AT_CMD_CSEND : AT_CMD_SEND, timeout_ms, attempts);
}

static void handle_line(struct at_modem *m)
{
    struct at_line line;
    at_parse_line(m->line, m->line_len, &line);
    bool waiting = m->state == AT_WAITING;
    switch (line.kind) {
    case AT_LINE_EMPTY:
    case AT_LINE_INFO:
        break;
    case AT_LINE_GARBAGE:
        m->garbage_lines++;
        break;
    case AT_LINE_OK:
    case AT_LINE_ERROR:
        if (!waiting) {
            m->stray_results++;
            break;
        }
        m->error_code = line.kind == AT_LINE_ERROR ? line.u.error_code : 0;
        finish_with(m, line.kind == AT_LINE_OK ? AT_RESULT_OK : AT_RESULT_ERROR);
        break;
    case AT_LINE_DR:
        if (waiting) {
            m->have_dr = true;
            m->dr = line.u.dr;
        }
        break;
    case AT_LINE_DUTY:
        if (waiting)
            m->duty_wait_ms = line.u.wait_ms;
        break;
    case AT_LINE_ACK:
        if (waiting)
            m->acked = true;
        break;
    case AT_LINE_JOIN:
    case AT_LINE_RECV:
        if (m->on_unsolicited != NULL)
            m->on_unsolicited(m->ctx, &line);
        break;
    }
}

/* Adds one received byte to the line being assembled; a '\n' ends it. */
static void take_byte(struct at_modem *m, uint8_t byte)
{
    if (byte == '\n') {
        if (m->discarding) {
            m->garbage_lines++;
            m->discarding = false;
        } else {
            if (m->line_len > 0 && m->line[m->line_len - 1] == '\r')
                m->line_len--;
            handle_line(m);
        }
        m->line_len = 0;
        return;
    }
    if (m->discarding)
        return;
    if (m->line_len == sizeof(m->line)) {
        m->discarding = true; /* longer than any line we accept */
        m->line_len = 0;
        return;
    }
    m->line[m->line_len++] = (char)byte;
}

void at_modem_poll(struct at_modem *m, uint32_t now_ms)
{
    uint8_t chunk[READ_CHUNK];
    size_t n;
    while ((n = board_modem_read(chunk, sizeof(chunk))) > 0) {
        for (size_t i = 0; i < n; i++)
            take_byte(m, chunk[i]);
    }
    if (m->state == AT_WAITING && time_reached(now_ms, m->deadline_ms)) {
        m->timeouts++;
        if (m->attempts_left > 0)
            transmit(m, now_ms);
        else
            finish_with(m, AT_RESULT_TIMEOUT);
    }
}

void at_modem_finish(struct at_modem *m)
{
    if (m->state == AT_DONE)
        m->state = AT_IDLE;
}

bool at_modem_wake_ms(const struct at_modem *m, uint32_t *wake_ms)
{
    if (m->state != AT_WAITING)
        return false;
    *wake_ms = m->deadline_ms;
    return true;
}
