/*
 * main.c - sensorbro-modem-sim: a LoRaWAN modem with an AT command set on a serial line,
 * and the packet forwarder of the gateway that hears it, in one process.
 *
 *   sensorbro-modem-sim --serial pty:LINK|unix:PATH|tcp:HOST:PORT --forward HOST:PORT
 *                       --keys FILE [--dr N] [--speed F] [--gateway-eui HEX16]
 *                       [--rssi DBM] [--snr DB] [--fcnt-up N] [--keepalive-s S]
 *                       [--dev-eui HEX16 --join-eui HEX16 [--devnonce-file FILE]]
 *
 * The keys file holds the ABP identity, one "name = value" a line ('#' comments):
 *   devaddr = 26011BDA
 *   nwkskey = <32 hex digits>
 *   appskey = <32 hex digits>
 * or, with --dev-eui and --join-eui (OTAA), only the root key:
 *   appkey = <32 hex digits>
 * Keys are read from a file only (never the command line, where ps shows them), and never
 * printed. With OTAA, AT+JOIN sends a Join-Request; its DevNonce counts up from the number
 * after the one stored in --devnonce-file (rewritten before every Join-Request), or from a
 * random start without that file. Uplinks go to the --forward address as GWMP PUSH_DATA; a
 * PULL_DATA keepalive every --keepalive-s seconds keeps the downlink path open, and PULL_RESP
 * frames become +RECV lines. SIGINT or SIGTERM ends it (status 0).
 *
 * Simulated time runs --speed times real time for everything radio (time on air, duty
 * cycle, receive windows), matching the host port's clock; UDP retries and keepalives use
 * real time, as a network does.
 */

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "lorawan/gwmp.h"
#include "modem.h"
#include "serial.h"
#include "util/keyfile.h"

#define PUSH_QUEUE       16
#define PUSH_RETRY_MS    1000.0
#define PUSH_MAX_RETRIES 3
#define DATAGRAM_MAX     2048

struct pending_push {
    uint16_t token;
    size_t len;
    uint8_t datagram[DATAGRAM_MAX];
};

static struct sim {
    struct serial serial;
    struct modem modem;
    int udp_fd;
    uint8_t eui[8];
    double speed;
    struct timespec start;
    struct pending_push queue[PUSH_QUEUE];
    size_t queue_len;
    int retries;
    double push_sent_real_ms;
    double keepalive_real_ms;
    double next_keepalive_real_ms;
    unsigned push_acked, push_lost, pull_acks;
} sim;

static volatile sig_atomic_t stop_requested;

static void on_signal(int signo)
{
    (void)signo;
    stop_requested = 1;
}

static double real_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - sim.start.tv_sec) * 1000.0 +
           (double)(now.tv_nsec - sim.start.tv_nsec) / 1e6;
}

static double sim_ms(void)
{
    return real_ms() * sim.speed;
}

static uint16_t random_token(void)
{
    uint8_t b[2] = {0, 0};
    if (RAND_bytes(b, sizeof(b)) != 1)
        b[0] = (uint8_t)rand();
    return (uint16_t)(b[0] << 8 | b[1]);
}

static void udp_send(const uint8_t *buf, size_t len)
{
    if (send(sim.udp_fd, buf, len, 0) < 0)
        fprintf(stderr, "modem-sim: udp send: %s\n", strerror(errno));
}

static void send_head(void)
{
    udp_send(sim.queue[0].datagram, sim.queue[0].len);
    sim.push_sent_real_ms = real_ms();
}

static void pop_head(void)
{
    memmove(&sim.queue[0], &sim.queue[1], (sim.queue_len - 1) * sizeof(sim.queue[0]));
    sim.queue_len--;
    sim.retries = 0;
    if (sim.queue_len > 0)
        send_head();
}

/* modem_io: a frame to forward. One PUSH_DATA is outstanding at a time. */
static void forward(void *ctx, const struct gwmp_rxpk *rx)
{
    (void)ctx;
    if (sim.queue_len == PUSH_QUEUE) {
        fprintf(stderr, "modem-sim: forward queue full, oldest frame dropped\n");
        sim.push_lost++;
        pop_head();
    }
    struct pending_push *p = &sim.queue[sim.queue_len];
    p->token = random_token();
    p->len = gwmp_build_push_data(p->token, sim.eui, rx, 1, NULL, p->datagram, sizeof(p->datagram));
    if (p->len == 0)
        return;
    if (++sim.queue_len == 1)
        send_head();
}

static void reply(void *ctx, const char *line)
{
    (void)ctx;
    serial_write_line(&sim.serial, line);
}

static void on_line(void *ctx, const char *line, bool overflowed)
{
    (void)ctx;
    if (overflowed) {
        serial_write_line(&sim.serial, "ERROR:2");
        return;
    }
    if (line[0] != '\0')
        modem_handle_line(&sim.modem, line, sim_ms());
}

static void udp_readable(void)
{
    uint8_t buf[GWMP_MAX_BYTES];
    ssize_t n = recv(sim.udp_fd, buf, sizeof(buf), 0);
    struct gwmp_header header;
    enum gwmp_drop why;
    if (n <= 0 || gwmp_parse_header(buf, (size_t)n, GWMP_FORWARDER, &header, &why) != 0)
        return;
    if (header.type == GWMP_PUSH_ACK && sim.queue_len > 0 && header.token == sim.queue[0].token) {
        sim.push_acked++;
        pop_head();
    } else if (header.type == GWMP_PULL_ACK) {
        sim.pull_acks++;
    } else if (header.type == GWMP_PULL_RESP) {
        struct gwmp_txpk tx;
        const char *result = "NONE";
        if (gwmp_parse_pull_resp(buf, (size_t)n, &tx, &why) != 0) {
            fprintf(stderr, "modem-sim: PULL_RESP without a usable txpk (%s)\n",
                    gwmp_drop_name(why));
            result = "TX_FREQ"; /* the forwarder's nearest word for "cannot send this" */
        } else {
            result = modem_downlink(&sim.modem, tx.data, tx.size, sim_ms());
        }
        uint8_t ack[128];
        size_t len = gwmp_build_tx_ack(header.token, sim.eui, result, ack, sizeof(ack));
        if (len > 0)
            udp_send(ack, len);
    }
}

static void timers(void)
{
    double now = real_ms();
    if (sim.queue_len > 0 && now - sim.push_sent_real_ms >= PUSH_RETRY_MS) {
        if (sim.retries < PUSH_MAX_RETRIES) {
            sim.retries++;
            send_head();
        } else {
            fprintf(stderr, "modem-sim: no PUSH_ACK after %d retries: frame dropped\n",
                    PUSH_MAX_RETRIES);
            sim.push_lost++;
            pop_head();
        }
    }
    if (now >= sim.next_keepalive_real_ms) {
        uint8_t buf[16];
        size_t len = gwmp_build_pull_data(random_token(), sim.eui, buf, sizeof(buf));
        udp_send(buf, len);
        sim.next_keepalive_real_ms = now + sim.keepalive_real_ms;
    }
}

/* --- options ------------------------------------------------------------------------ */

static bool parse_hex_exact(const char *hex, uint8_t *out, size_t len)
{
    if (strlen(hex) != 2 * len)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned v;
        if (sscanf(&hex[2 * i], "%2x", &v) != 1 || !isxdigit((unsigned char)hex[2 * i]) ||
            !isxdigit((unsigned char)hex[2 * i + 1]))
            return false;
        out[i] = (uint8_t)v;
    }
    return true;
}

/* An EUI in its written order, 16 hex digits. */
static bool parse_eui(const char *hex, uint64_t *out)
{
    uint8_t b[8];
    if (!parse_hex_exact(hex, b, sizeof(b)))
        return false;
    *out = 0;
    for (size_t i = 0; i < sizeof(b); i++)
        *out = *out << 8 | b[i];
    return true;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *end = s + strlen(s);
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r'))
        *--end = '\0';
    return s;
}

/* The keys file (util/keyfile.h): ABP (devaddr, nwkskey, appskey) or, for OTAA, appkey
 * alone. */
static bool load_keys(const char *path, struct modem *m)
{
    struct lorawan_session *s = &m->session;
    bool otaa = m->otaa.enabled;
    uint8_t addr[4];
    bool has_addr = false, has_nwk = false, has_app = false, has_root = false;
    const struct keyfile_field abp_fields[] = {
        {"devaddr", sizeof(addr), addr, &has_addr},
        {"nwkskey", 16, s->nwk_s_key, &has_nwk},
        {"appskey", 16, s->app_s_key, &has_app},
    };
    const struct keyfile_field otaa_fields[] = {{"appkey", 16, m->otaa.app_key, &has_root}};
    struct keyfile_result res;
    int rc =
        otaa ? keyfile_read(path, otaa_fields, 1, &res) : keyfile_read(path, abp_fields, 3, &res);
    if (res.readable_by_others)
        fprintf(stderr, "modem-sim: warning: %s is readable by others (chmod 600 it)\n", path);
    if (rc != 0 && res.line == 0) {
        fprintf(stderr, "modem-sim: %s: %s\n", path, strerror(res.error));
        return false;
    }
    if (rc != 0) {
        /* the value is not echoed: it may be a key */
        fprintf(stderr,
                otaa ? "modem-sim: %s:%u: expected appkey = 32 hex digits (OTAA)\n"
                     : "modem-sim: %s:%u: expected devaddr = 8 hex digits, or nwkskey/appskey "
                       "= 32 hex digits\n",
                path, res.line);
        return false;
    }
    if (otaa ? !has_root : !(has_addr && has_nwk && has_app)) {
        fprintf(stderr,
                otaa ? "modem-sim: %s: needs appkey (OTAA)\n"
                     : "modem-sim: %s: needs devaddr, nwkskey and appskey\n",
                path);
        return false;
    }
    if (!otaa)
        s->dev_addr =
            (uint32_t)addr[0] << 24 | (uint32_t)addr[1] << 16 | (uint32_t)addr[2] << 8 | addr[3];
    return true;
}

static bool parse_number(const char *text, double min, double max, double *out);

/* A whole number 0..65535 that makes up all of text. */
static bool parse_number_prefix(const char *text, double *out)
{
    return parse_number(text, 0, 65535, out) && *out == floor(*out);
}

/* --- DevNonce persistence ------------------------------------------------------------- */

static const char *devnonce_path;

/* The DevNonce to start from: one after the stored one, or random without a file. */
static bool first_dev_nonce(uint16_t *out)
{
    if (devnonce_path == NULL) {
        uint8_t b[2];
        if (RAND_bytes(b, sizeof(b)) != 1)
            return false;
        /* The lower half, so that thousands of joins fit before 65535 ends them. */
        *out = (uint16_t)((b[0] & 0x7F) << 8 | b[1]);
        return true;
    }
    FILE *f = fopen(devnonce_path, "r");
    if (f == NULL && errno == ENOENT) {
        *out = 0; /* a new device */
        return true;
    }
    char text[16] = "";
    bool ok = f != NULL && fgets(text, sizeof(text), f) != NULL;
    if (f != NULL)
        fclose(f);
    double last = 0;
    if (!ok || !parse_number_prefix(trim(text), &last)) {
        fprintf(stderr, "modem-sim: %s: expected the last DevNonce, 0..65535\n", devnonce_path);
        return false;
    }
    if (last >= 65535) {
        fprintf(stderr, "modem-sim: %s: every DevNonce is spent\n", devnonce_path);
        return false;
    }
    *out = (uint16_t)((unsigned)last + 1u);
    return true;
}

/* modem_io: stores a DevNonce before it goes on air (write, fsync, rename), so that a
 * restart never sends it again. */
static bool dev_nonce_used(void *ctx, uint16_t dev_nonce)
{
    (void)ctx;
    if (devnonce_path == NULL)
        return true;
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", devnonce_path) >= (int)sizeof(tmp))
        return false;
    FILE *f = fopen(tmp, "w");
    bool ok =
        f != NULL && fprintf(f, "%u\n", dev_nonce) > 0 && fflush(f) == 0 && fsync(fileno(f)) == 0;
    if (f != NULL && fclose(f) != 0)
        ok = false;
    if (ok && rename(tmp, devnonce_path) != 0)
        ok = false;
    if (!ok)
        fprintf(stderr, "modem-sim: %s: cannot store the DevNonce: %s\n", devnonce_path,
                strerror(errno));
    return ok;
}

static int open_udp(const char *host_port)
{
    char host[256];
    const char *colon = strrchr(host_port, ':');
    if (colon == NULL || (size_t)(colon - host_port) >= sizeof(host)) {
        fprintf(stderr, "modem-sim: --forward wants HOST:PORT\n");
        return -1;
    }
    memcpy(host, host_port, (size_t)(colon - host_port));
    host[colon - host_port] = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM};
    struct addrinfo *ai = NULL;
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0 || ai == NULL) {
        fprintf(stderr, "modem-sim: cannot resolve %s\n", host_port);
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0)
        fprintf(stderr, "modem-sim: udp %s: %s\n", host_port, strerror(errno));
    return fd;
}

static void usage(FILE *to)
{
    fprintf(to, "usage: sensorbro-modem-sim --serial pty:LINK|unix:PATH|tcp:HOST:PORT "
                "--forward HOST:PORT --keys FILE\n"
                "       [--dr N] [--speed F] [--gateway-eui HEX16] [--rssi DBM] [--snr DB]\n"
                "       [--fcnt-up N] [--keepalive-s S]\n"
                "       [--dev-eui HEX16 --join-eui HEX16 [--devnonce-file FILE]]  (OTAA)\n");
}

static bool parse_number(const char *text, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !(v >= min && v <= max))
        return false;
    *out = v;
    return true;
}

int main(int argc, char **argv)
{
    const char *serial_spec = NULL, *forward_to = NULL, *keys = NULL;
    double dr = 0, rssi = -70, snr = 7.5, fcnt = 0, keepalive_s = 10;
    uint64_t dev_eui = 0, join_eui = 0;
    bool have_dev_eui = false, have_join_eui = false;
    sim.speed = 1.0;
    parse_hex_exact("AA555A0000000001", sim.eui, 8);
    static const struct option longopts[] = {
        {"serial", required_argument, NULL, 's'},
        {"forward", required_argument, NULL, 'f'},
        {"keys", required_argument, NULL, 'k'},
        {"dr", required_argument, NULL, 'd'},
        {"speed", required_argument, NULL, 'x'},
        {"gateway-eui", required_argument, NULL, 'g'},
        {"rssi", required_argument, NULL, 'r'},
        {"snr", required_argument, NULL, 'n'},
        {"fcnt-up", required_argument, NULL, 'c'},
        {"keepalive-s", required_argument, NULL, 'K'},
        {"dev-eui", required_argument, NULL, 'D'},
        {"join-eui", required_argument, NULL, 'J'},
        {"devnonce-file", required_argument, NULL, 'N'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case 's':
            serial_spec = optarg;
            break;
        case 'f':
            forward_to = optarg;
            break;
        case 'k':
            keys = optarg;
            break;
        case 'd':
            ok = parse_number(optarg, 0, EU868_DR_COUNT - 1, &dr) && dr == floor(dr);
            break;
        case 'x':
            ok = parse_number(optarg, 1, 100000, &sim.speed);
            break;
        case 'g':
            ok = parse_hex_exact(optarg, sim.eui, 8);
            break;
        case 'r':
            ok = parse_number(optarg, -200, 0, &rssi);
            break;
        case 'n':
            ok = parse_number(optarg, -40, 40, &snr);
            break;
        case 'c':
            ok = parse_number(optarg, 0, 4294967295.0, &fcnt) && fcnt == floor(fcnt);
            break;
        case 'K':
            ok = parse_number(optarg, 0.1, 3600, &keepalive_s);
            break;
        case 'D':
            ok = parse_eui(optarg, &dev_eui);
            have_dev_eui = ok;
            break;
        case 'J':
            ok = parse_eui(optarg, &join_eui);
            have_join_eui = ok;
            break;
        case 'N':
            devnonce_path = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 1;
        }
        if (!ok) {
            fprintf(stderr, "modem-sim: bad value: %s\n", optarg);
            return 1;
        }
    }
    if (serial_spec == NULL || forward_to == NULL || keys == NULL || optind != argc ||
        have_dev_eui != have_join_eui || (devnonce_path != NULL && !have_dev_eui)) {
        usage(stderr);
        return 1;
    }

    struct modem_io io = {.reply = reply, .forward = forward, .dev_nonce_used = dev_nonce_used};
    modem_init(&sim.modem, &io);
    sim.modem.otaa.enabled = have_dev_eui;
    sim.modem.otaa.dev_eui = dev_eui;
    sim.modem.otaa.join_eui = join_eui;
    if (!load_keys(keys, &sim.modem))
        return 1;
    if (sim.modem.otaa.enabled && !first_dev_nonce(&sim.modem.otaa.next_dev_nonce))
        return 1;
    sim.modem.session.fcnt_up = (uint32_t)fcnt;
    sim.modem.dr = (unsigned)dr;
    sim.modem.uplink_rssi_dbm = (int)rssi;
    sim.modem.uplink_snr_db = snr;
    sim.modem.downlink_rssi_dbm = -60;
    sim.modem.downlink_snr_db = 9;
    sim.modem.epoch_unix_s = (double)time(NULL);
    sim.keepalive_real_ms = keepalive_s * 1000.0;

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    sim.udp_fd = open_udp(forward_to);
    if (sim.udp_fd < 0 || !serial_open(&sim.serial, serial_spec)) {
        serial_close(&sim.serial);
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &sim.start);
    if (sim.modem.otaa.enabled)
        fprintf(stderr,
                "modem-sim: OTAA deveui %016llX joineui %016llX first dev_nonce %u, dr %u, "
                "forwarding to %s, speed %g\n",
                (unsigned long long)dev_eui, (unsigned long long)join_eui,
                sim.modem.otaa.next_dev_nonce, sim.modem.dr, forward_to, sim.speed);
    else
        fprintf(stderr, "modem-sim: devaddr %08X, dr %u, forwarding to %s, speed %g\n",
                (unsigned)sim.modem.session.dev_addr, sim.modem.dr, forward_to, sim.speed);

    while (!stop_requested) {
        timers();
        double wake_sim = modem_poll(&sim.modem, sim_ms());
        double timeout_ms = sim.next_keepalive_real_ms - real_ms();
        if (sim.queue_len > 0)
            timeout_ms = fmin(timeout_ms, sim.push_sent_real_ms + PUSH_RETRY_MS - real_ms());
        if (wake_sim >= 0)
            timeout_ms = fmin(timeout_ms, (wake_sim - sim_ms()) / sim.speed);
        struct pollfd fds[2] = {
            {.fd = serial_poll_fd(&sim.serial), .events = POLLIN},
            {.fd = sim.udp_fd, .events = POLLIN},
        };
        int timeout = timeout_ms <= 0 ? 0 : (int)ceil(timeout_ms);
        if (poll(fds, 2, timeout) < 0 && errno != EINTR)
            break;
        if (fds[0].revents & (POLLIN | POLLHUP | POLLERR))
            serial_readable(&sim.serial, on_line, NULL);
        /* POLLERR: an ICMP error (nobody listening yet); recv() reads and clears it. */
        if (fds[1].revents & (POLLIN | POLLERR))
            udp_readable();
    }
    fprintf(stderr,
            "modem-sim: uplinks=%u downlinks=%u joins=%u push_acked=%u push_lost=%u "
            "pull_acks=%u\n",
            sim.modem.uplinks, sim.modem.downlinks, sim.modem.joins_accepted, sim.push_acked,
            sim.push_lost, sim.pull_acks);
    serial_close(&sim.serial);
    close(sim.udp_fd);
    OPENSSL_cleanse(&sim.modem.session, sizeof(sim.modem.session));
    OPENSSL_cleanse(&sim.modem.otaa, sizeof(sim.modem.otaa));
    return 0;
}
