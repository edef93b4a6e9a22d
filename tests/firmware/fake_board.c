/*
 * fake_board.c - the scriptable board of the firmware unit tests (fake_board.h).
 */
#include "fake_board.h"

#include <stdio.h>
#include <string.h>

#define RX_BYTES   8192
#define LINE_BYTES 1024
#define LOG_BYTES  16384

static struct fake {
    uint32_t ms;
    uint8_t rx[RX_BYTES];
    size_t rx_head, rx_tail;
    char line[LINE_BYTES];
    size_t line_len;
    char last_line[LINE_BYTES];
    char written[65536];
    size_t written_len;
    fake_responder_fn responder;
    bool modem_down;
    uint8_t nvm[FAKE_NVM_PAGE_SIZE * FAKE_NVM_PAGE_COUNT];
    int nvm_fail_calls;
    size_t nvm_fail_bytes;
    unsigned erases[FAKE_NVM_PAGE_COUNT];
    struct sensor_desc sensors[FAKE_MAX_SENSORS];
    size_t sensor_count;
    int32_t value[FAKE_MAX_SENSORS];
    bool ok[FAKE_MAX_SENSORS];
    char log[LOG_BYTES];
    size_t log_len;
} fake;

void fake_board_reset(void)
{
    memset(&fake, 0, sizeof(fake));
    memset(fake.nvm, BOARD_NVM_ERASED_BYTE, sizeof(fake.nvm));
    fake.nvm_fail_calls = -1;
}

void fake_time_set_ms(uint32_t ms)
{
    fake.ms = ms;
}

void fake_time_advance_ms(uint32_t ms)
{
    fake.ms += ms;
}

void fake_modem_set_responder(fake_responder_fn responder)
{
    fake.responder = responder;
}

void fake_modem_reply_bytes(const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len && fake.rx_head - fake.rx_tail < RX_BYTES; i++)
        fake.rx[fake.rx_head++ % RX_BYTES] = data[i];
}

void fake_modem_reply(const char *text)
{
    fake_modem_reply_bytes((const uint8_t *)text, strlen(text));
}

const char *fake_modem_last_line(void)
{
    return fake.last_line;
}

unsigned fake_modem_count(const char *prefix)
{
    unsigned n = 0;
    size_t plen = strlen(prefix);
    const char *p = fake.written;
    while (p < fake.written + fake.written_len) {
        if (strncmp(p, prefix, plen) == 0)
            n++;
        const char *nl = memchr(p, '\n', (size_t)(fake.written + fake.written_len - p));
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    return n;
}

void fake_modem_set_down(bool down)
{
    fake.modem_down = down;
}

void fake_sensors_set(const struct sensor_desc *sensors, size_t count)
{
    memcpy(fake.sensors, sensors, count * sizeof(*sensors));
    fake.sensor_count = count;
    for (size_t i = 0; i < count; i++)
        fake.ok[i] = true;
}

void fake_sensor_value(size_t index, int32_t value, bool ok)
{
    fake.value[index] = value;
    fake.ok[index] = ok;
}

uint8_t *fake_nvm_bytes(void)
{
    return fake.nvm;
}

void fake_nvm_fail_after(int calls, size_t bytes_left)
{
    fake.nvm_fail_calls = calls;
    fake.nvm_fail_bytes = bytes_left;
}

unsigned fake_nvm_erase_count(uint32_t page)
{
    return fake.erases[page];
}

const char *fake_log(void)
{
    return fake.log;
}

void fake_log_clear(void)
{
    fake.log_len = 0;
    fake.log[0] = '\0';
}

/* --- board.h ------------------------------------------------------------------------ */

uint32_t board_time_ms(void)
{
    return fake.ms;
}

void board_sleep_until(uint32_t wake_ms)
{
    /* Tests move the clock themselves; sleeping jumps to the wake time unless bytes wait. */
    if (fake.rx_head == fake.rx_tail && (int32_t)(wake_ms - fake.ms) > 0)
        fake.ms = wake_ms;
}

size_t board_modem_read(uint8_t *buf, size_t capacity)
{
    size_t n = 0;
    while (n < capacity && fake.rx_tail != fake.rx_head)
        buf[n++] = fake.rx[fake.rx_tail++ % RX_BYTES];
    return n;
}

bool board_modem_write(const uint8_t *data, size_t len)
{
    if (fake.modem_down)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (fake.written_len < sizeof(fake.written) - 1)
            fake.written[fake.written_len++] = (char)data[i];
        if (data[i] == '\n') {
            if (fake.line_len > 0 && fake.line[fake.line_len - 1] == '\r')
                fake.line_len--;
            fake.line[fake.line_len] = '\0';
            memcpy(fake.last_line, fake.line, fake.line_len + 1);
            fake.line_len = 0;
            if (fake.responder != NULL)
                fake.responder(fake.last_line);
        } else if (fake.line_len < sizeof(fake.line) - 1) {
            fake.line[fake.line_len++] = (char)data[i];
        }
    }
    return true;
}

uint32_t board_nvm_page_size(void)
{
    return FAKE_NVM_PAGE_SIZE;
}

uint32_t board_nvm_page_count(void)
{
    return FAKE_NVM_PAGE_COUNT;
}

bool board_nvm_read(uint32_t offset, void *buf, size_t len)
{
    if (offset > sizeof(fake.nvm) || len > sizeof(fake.nvm) - offset)
        return false;
    memcpy(buf, &fake.nvm[offset], len);
    return true;
}

bool board_nvm_erase_page(uint32_t page)
{
    if (page >= FAKE_NVM_PAGE_COUNT)
        return false;
    if (fake.nvm_fail_calls == 0)
        return false;
    if (fake.nvm_fail_calls > 0)
        fake.nvm_fail_calls--;
    memset(&fake.nvm[page * FAKE_NVM_PAGE_SIZE], BOARD_NVM_ERASED_BYTE, FAKE_NVM_PAGE_SIZE);
    fake.erases[page]++;
    return true;
}

bool board_nvm_program(uint32_t offset, const void *data, size_t len)
{
    if (offset > sizeof(fake.nvm) || len > sizeof(fake.nvm) - offset || offset % 8 != 0 ||
        len % 8 != 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (fake.nvm[offset + i] != BOARD_NVM_ERASED_BYTE)
            return false; /* programming twice: a bug in the core */
    }
    if (fake.nvm_fail_calls == 0) {
        /* Power lost during this write: part of it landed. */
        size_t part = fake.nvm_fail_bytes < len ? fake.nvm_fail_bytes : len;
        memcpy(&fake.nvm[offset], data, part);
        fake.nvm_fail_bytes = 0;
        return false;
    }
    if (fake.nvm_fail_calls > 0)
        fake.nvm_fail_calls--;
    memcpy(&fake.nvm[offset], data, len);
    return true;
}

const struct sensor_desc *board_sensors(size_t *count)
{
    *count = fake.sensor_count;
    return fake.sensors;
}

bool board_sensor_read(const struct sensor_desc *sensor, int32_t *value)
{
    size_t i = (size_t)(sensor - fake.sensors);
    *value = fake.value[i];
    return fake.ok[i];
}

void board_watchdog_kick(void)
{
}

void board_log_write(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (fake.log_len == sizeof(fake.log) - 1) {
            /* Keep the newer half. */
            memmove(fake.log, fake.log + sizeof(fake.log) / 2, sizeof(fake.log) / 2);
            fake.log_len -= sizeof(fake.log) / 2;
        }
        fake.log[fake.log_len++] = text[i];
    }
    fake.log[fake.log_len] = '\0';
}
