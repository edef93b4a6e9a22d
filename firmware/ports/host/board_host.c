/*
 * board_host.c - board.h on POSIX: the modem on a pty or a unix socket, NVM in a file with
 * flash semantics, sensors from the fleet simulator's signal models, and a clock that runs
 * `speed` times faster than real time.
 *
 * Simulated time passes only while the node sleeps: board_sleep_until() waits the real
 * time that corresponds to the simulated wait divided by the speed factor, but at least
 * MIN_REAL_WAIT_MS, and advances the clock by the simulated wait (or, woken early by the
 * modem, by the real time that passed times the speed, never past the wake time). The
 * node's own work takes no simulated time, as if its CPU were infinitely fast, and the
 * floor gives modem-sim real time to answer: at speed 5000 a 10 s AT timeout would be 2 ms
 * of real time, less than a busy machine may take to schedule the simulator. So a run does
 * not depend on how busy the machine is. A day of 5-minute samples (288 ticks) takes
 * 86 s at speed 1000, and the node cannot tell: it only ever sees board_time_ms().
 *
 * Sensors: temperature, relative humidity and CO2 every sample, battery once per uplink,
 * read from tools/signals/signals.c (the one set of simulated sensors of the project) at
 * the simulated instant of each tick.
 */

#include "host_board.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "board.h"
#include "signals.h"
#include "sim_board.h"

#define NVM_PAGE_SIZE    1024u
#define NVM_PAGE_COUNT   4u
#define NVM_BYTES        (NVM_PAGE_SIZE * NVM_PAGE_COUNT)
#define LOG_LINE_MAX     1024
#define MIN_REAL_WAIT_MS 50.0

static struct host_board {
    int modem_fd;
    double speed;
    double sim_ms; /* simulated milliseconds since boot */
    int64_t epoch_s;
    struct signals_sensor sensor;
    uint8_t nvm[NVM_BYTES];
    const char *nvm_path;
    FILE *sample_log;
    char log_line[LOG_LINE_MAX];
    size_t log_len;
} board = {.modem_fd = -1};

static double real_now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec * 1000.0 + (double)now.tv_nsec / 1e6;
}

int64_t host_board_unix_s(void)
{
    return board.epoch_s + (int64_t)(board.sim_ms / 1000.0);
}

static int open_modem(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "host: %s: %s\n", path, strerror(errno));
        return -1;
    }
    int fd;
    if (S_ISSOCK(st.st_mode)) {
        struct sockaddr_un addr = {.sun_family = AF_UNIX};
        if (strlen(path) >= sizeof(addr.sun_path)) {
            fprintf(stderr, "host: socket path too long: %s\n", path);
            return -1;
        }
        strcpy(addr.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
            fprintf(stderr, "host: connect %s: %s\n", path, strerror(errno));
            if (fd >= 0)
                close(fd);
            return -1;
        }
    } else {
        fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (fd < 0) {
            fprintf(stderr, "host: open %s: %s\n", path, strerror(errno));
            return -1;
        }
        struct termios tio;
        if (tcgetattr(fd, &tio) == 0) {
            cfmakeraw(&tio); /* a serial line: no echo, no line editing, 8 bits */
            tcsetattr(fd, TCSANOW, &tio);
        }
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static bool load_nvm(const char *path)
{
    memset(board.nvm, BOARD_NVM_ERASED_BYTE, sizeof(board.nvm));
    if (path == NULL)
        return true;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return errno == ENOENT; /* a new node: erased flash */
    size_t n = fread(board.nvm, 1, sizeof(board.nvm), f);
    fclose(f);
    if (n != sizeof(board.nvm)) {
        fprintf(stderr, "host: %s: %zu bytes, expected %u\n", path, n, NVM_BYTES);
        return false;
    }
    return true;
}

/* Writes the NVM image through a temporary file, so a kill leaves the old or the new. */
static bool save_nvm(void)
{
    if (board.nvm_path == NULL)
        return true;
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", board.nvm_path) >= (int)sizeof(tmp))
        return false;
    FILE *f = fopen(tmp, "wb");
    if (f == NULL)
        return false;
    bool ok = fwrite(board.nvm, 1, sizeof(board.nvm), f) == sizeof(board.nvm);
    ok = fclose(f) == 0 && ok;
    return ok && rename(tmp, board.nvm_path) == 0;
}

bool host_board_open(const struct host_board_options *o)
{
    board.speed = o->speed;
    board.epoch_s = o->epoch_s;
    board.nvm_path = o->nvm_path;
    signals_init(&board.sensor, o->seed, o->sensor_index, o->epoch_s, o->utc_offset_s);
    if (!load_nvm(o->nvm_path))
        return false;
    if (o->sample_log_path != NULL) {
        board.sample_log = fopen(o->sample_log_path, "w");
        if (board.sample_log == NULL) {
            fprintf(stderr, "host: %s: %s\n", o->sample_log_path, strerror(errno));
            return false;
        }
    }
    board.modem_fd = open_modem(o->modem_path);
    if (board.modem_fd < 0) {
        host_board_close();
        return false;
    }
    board.sim_ms = 0;
    return true;
}

void host_board_close(void)
{
    if (board.modem_fd >= 0)
        close(board.modem_fd);
    board.modem_fd = -1;
    if (board.sample_log != NULL)
        fclose(board.sample_log);
    board.sample_log = NULL;
}

/* --- board.h ------------------------------------------------------------------------ */

uint32_t board_time_ms(void)
{
    return (uint32_t)(uint64_t)board.sim_ms;
}

void board_sleep_until(uint32_t wake_ms)
{
    int32_t sim_wait_ms = (int32_t)(wake_ms - board_time_ms());
    if (sim_wait_ms <= 0)
        return;
    double real_wait_ms = fmin(fmax(sim_wait_ms / board.speed, MIN_REAL_WAIT_MS), 60000.0);
    double start_ms = real_now_ms();
    struct pollfd p = {.fd = board.modem_fd, .events = POLLIN};
    int ready = poll(&p, 1, (int)ceil(real_wait_ms));
    double slept_sim_ms = (real_now_ms() - start_ms) * board.speed;
    /* Timed out: exactly at the wake time. Woken by the modem: as far as real time went. */
    if (ready == 0 || slept_sim_ms > sim_wait_ms)
        slept_sim_ms = sim_wait_ms;
    board.sim_ms += slept_sim_ms;
}

size_t board_modem_read(uint8_t *buf, size_t capacity)
{
    ssize_t n = read(board.modem_fd, buf, capacity);
    return n > 0 ? (size_t)n : 0;
}

bool board_modem_write(const uint8_t *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(board.modem_fd, data, len);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            struct pollfd p = {.fd = board.modem_fd, .events = POLLOUT};
            poll(&p, 1, 1000);
            continue;
        }
        if (n <= 0)
            return false;
        data += n;
        len -= (size_t)n;
    }
    return true;
}

uint32_t board_nvm_page_size(void)
{
    return NVM_PAGE_SIZE;
}

uint32_t board_nvm_page_count(void)
{
    return NVM_PAGE_COUNT;
}

bool board_nvm_read(uint32_t offset, void *buf, size_t len)
{
    return sim_flash_read(board.nvm, NVM_BYTES, offset, buf, len);
}

bool board_nvm_erase_page(uint32_t page)
{
    return sim_flash_erase(board.nvm, NVM_BYTES, NVM_PAGE_SIZE, page) && save_nvm();
}

bool board_nvm_program(uint32_t offset, const void *data, size_t len)
{
    return sim_flash_program(board.nvm, NVM_BYTES, offset, data, len) && save_nvm();
}

const struct sensor_desc *board_sensors(size_t *count)
{
    return sim_sensors(count);
}

bool board_sensor_read(const struct sensor_desc *sensor, int32_t *value)
{
    int64_t t_s = board.epoch_s + (int64_t)((board_time_ms() + 500u) / 1000u);
    if (!sim_sensor_read(&board.sensor, sensor, t_s, value))
        return false;
    if (board.sample_log != NULL) {
        fprintf(board.sample_log, "sample %lld %u %ld\n", (long long)t_s, sensor->quantity,
                (long)*value);
        fflush(board.sample_log);
    }
    return true;
}

void board_watchdog_kick(void)
{
}

void board_log_write(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\n' || board.log_len == sizeof(board.log_line)) {
            fprintf(stderr, "node %lld: %.*s\n", (long long)host_board_unix_s(), (int)board.log_len,
                    board.log_line);
            board.log_len = 0;
            if (text[i] == '\n')
                continue;
        }
        board.log_line[board.log_len++] = text[i];
    }
}
