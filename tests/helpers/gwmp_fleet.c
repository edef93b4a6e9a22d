/*
 * gwmp_fleet.c - a packet forwarder with a fleet of ABP LoRaWAN devices behind it, for the
 * fault tests: it sends real LoRaWAN 1.0.x uplinks (FPort 1, a Sensorbro Uplink whose seq
 * is the FCnt) in GWMP PUSH_DATAs at a steady rate, one frame per datagram, and logs every
 * frame the gateway acknowledged with a PUSH_ACK. It is the Semtech UDP counterpart of
 * fleet-sim's --log-sent: what is in --log-acked was acknowledged, so it must be on disk.
 *
 *   sb-gwmp-fleet --server PORT --devices N --rate R (--count M | --duration S)
 *                 --log-acked FILE [--log-sent FILE] [--fcnt-start F] [--timeout-ms T]
 *                 [--samples K] [--bind HOST] [--gateway-eui HEX16] [--device-base B]
 *   sb-gwmp-fleet --print-devices N      lines "dev_eui dev_addr nwkskey appskey"
 *
 * Device i has DevEUI 70b3d57ed1000000 + i, DevAddr 26100000 + i, and keys derived from i
 * (printed by --print-devices, for sensorbroctl device add); --device-base B makes the
 * fleet devices B to B + N - 1. --bind sends from that IPv4 host of the loopback (127.0.0.2:
 * another forwarder's address), --gateway-eui as another forwarder (default
 * aa555a000000fa01). A PUSH_DATA not acknowledged
 * within --timeout-ms is counted as unacknowledged and never resent: a Semtech forwarder
 * does not resend either. SIGTERM/SIGINT stop sending; outstanding acks get the timeout.
 * --samples K (1-16) sends K samples each of temperature, humidity and CO2 plus a battery
 * reading, an indoor-climate uplink of 20-60 bytes (K = 9: 45-48), instead of the default
 * three temperatures and a battery reading (about 15 bytes). The benchmark
 * (tests/bench/run) drives it at thousands of frames per second, so a PUSH_ACK is matched
 * to its frame by the token's slot and timeouts are found in sending order, in O(1).
 * Frames are built with the gateway's own lorawan.c (tested against the specification's
 * vectors) and the forwarder's side of the gateway's own GWMP codec (lorawan/gwmp.c).
 * Exit status: 0 when every frame sent was acknowledged, 1 when some were not, 2 on usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lorawan/gwmp.h"
#include "lorawan.h"
#include "sensorbro/v1/telemetry.pb-c.h"

#define MAX_DEVICES   100000
#define MAX_SAMPLES   16
#define EUI_BASE      UINT64_C(0x70b3d57ed1000000)
#define DEV_ADDR_BASE 0x26100000u
/* PUSH_DATAs awaiting their PUSH_ACK at most; a power of two below the 65536 tokens, so the
 * tokens of the frames in flight (consecutive) never collide. The gateway holds a frame for
 * its dedup window (200 ms by default) before answering: 16384 allow 80,000 frames/s. */
#define MAX_OUTSTAND 16384u
#define N_TOKENS     65536u

struct outstanding {
    uint16_t token;
    bool acked;
    int64_t sent_ms;
    unsigned device;
    uint32_t fcnt;
};

/* The frames in flight, in sending order (a ring), and where each token's frame is. */
struct in_flight {
    struct outstanding ring[MAX_OUTSTAND];
    size_t head, count;              /* oldest entry, entries (acknowledged ones included) */
    int32_t slot_of_token[N_TOKENS]; /* -1: no frame in flight with that token */
    size_t unacked;                  /* entries still waiting */
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The high bits of i change the keys too (devices 256 apart would share them otherwise);
 * devices below 256 keep the keys they always had. */
static void device_keys(unsigned i, uint8_t nwk[LORAWAN_KEY_SIZE], uint8_t app[LORAWAN_KEY_SIZE])
{
    unsigned high = i >> 8;
    for (unsigned k = 0; k < LORAWAN_KEY_SIZE; k++) {
        nwk[k] = (uint8_t)(0x10 + 7 * k + i + 13 * high * (k + 1));
        app[k] = (uint8_t)(0xa0 + 5 * k + 3 * i + 11 * high * (k + 2));
    }
}

static void print_hex(FILE *f, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%02x", b[i]);
}

static void print_devices(unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        uint8_t nwk[LORAWAN_KEY_SIZE], app[LORAWAN_KEY_SIZE];
        device_keys(i, nwk, app);
        printf("%016" PRIx64 " %08x ", EUI_BASE + i, DEV_ADDR_BASE + i);
        print_hex(stdout, nwk, sizeof(nwk));
        putchar(' ');
        print_hex(stdout, app, sizeof(app));
        putchar('\n');
    }
}

/* An Uplink: seq, interval, then either three temperatures (samples 0) or `samples` each
 * of temperature, humidity and CO2 (first value, then small deltas, as a node sends them),
 * and a battery reading. */
static size_t encode_uplink(uint32_t seq, unsigned device, unsigned samples, uint8_t *out,
                            size_t out_size)
{
    Sensorbro__V1__Uplink up = SENSORBRO__V1__UPLINK__INIT;
    int32_t temps[MAX_SAMPLES] = {2100 + (int32_t)(seq % 50), 3, -2};
    int32_t humidity[MAX_SAMPLES], co2[MAX_SAMPLES];
    int32_t battery[1] = {3300 - (int32_t)(seq % 100)};
    up.seq = seq;
    up.interval_s = 300;
    up.n_temperature = 3;
    up.temperature = temps;
    if (samples > 0) {
        uint32_t mix = seq * 2654435761u + device * 40503u;
        temps[0] = 2000 + (int32_t)(mix % 300);
        humidity[0] = 350 + (int32_t)(mix / 300 % 200);
        co2[0] = 420 + (int32_t)(mix / 60000 % 400);
        for (unsigned k = 1; k < samples; k++) {
            mix = mix * 1103515245u + 12345u;
            temps[k] = (int32_t)(mix >> 8 & 7) - 3;
            humidity[k] = (int32_t)(mix >> 12 & 7) - 3;
            co2[k] = (int32_t)(mix >> 16 & 31) - 12;
        }
        up.n_temperature = samples;
        up.n_relative_humidity = samples;
        up.relative_humidity = humidity;
        up.n_co2 = samples;
        up.co2 = co2;
    }
    up.n_battery = 1;
    up.battery = battery;
    size_t n = sensorbro__v1__uplink__get_packed_size(&up);
    if (n > out_size)
        return 0;
    return sensorbro__v1__uplink__pack(&up, out);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: sb-gwmp-fleet --server PORT --devices N --rate R (--count M | "
                 "--duration S)\n"
                 "                     --log-acked FILE [--log-sent FILE] [--fcnt-start F] "
                 "[--timeout-ms T]\n"
                 "                     [--samples K] [--bind HOST] [--gateway-eui HEX16]\n"
                 "                     [--device-base B]\n"
                 "       sb-gwmp-fleet --print-devices N\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"server", required_argument, NULL, 's'},
                                         {"devices", required_argument, NULL, 'n'},
                                         {"rate", required_argument, NULL, 'r'},
                                         {"count", required_argument, NULL, 'c'},
                                         {"duration", required_argument, NULL, 'd'},
                                         {"log-acked", required_argument, NULL, 'a'},
                                         {"log-sent", required_argument, NULL, 'l'},
                                         {"fcnt-start", required_argument, NULL, 'f'},
                                         {"timeout-ms", required_argument, NULL, 't'},
                                         {"samples", required_argument, NULL, 'k'},
                                         {"print-devices", required_argument, NULL, 'p'},
                                         {"bind", required_argument, NULL, 'b'},
                                         {"gateway-eui", required_argument, NULL, 'g'},
                                         {"device-base", required_argument, NULL, 'B'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    unsigned port = 0, devices = 0, count = 0, fcnt_start = 0, timeout_ms = 2000, samples = 0;
    double rate = 0, duration_s = 0;
    const char *acked_path = NULL, *sent_path = NULL, *bind_host = NULL;
    unsigned base = 0;
    uint8_t gateway_eui[8] = {0xaa, 0x55, 0x5a, 0x00, 0x00, 0x00, 0xfa, 0x01};
    int opt;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 's':
            port = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'n':
            devices = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'r':
            rate = strtod(optarg, NULL);
            break;
        case 'c':
            count = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'd':
            duration_s = strtod(optarg, NULL);
            break;
        case 'a':
            acked_path = optarg;
            break;
        case 'l':
            sent_path = optarg;
            break;
        case 'f':
            fcnt_start = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 't':
            timeout_ms = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'k':
            samples = (unsigned)strtoul(optarg, NULL, 10);
            if (samples == 0 || samples > MAX_SAMPLES) {
                usage(stderr);
                return 2;
            }
            break;
        case 'p': {
            unsigned n = (unsigned)strtoul(optarg, NULL, 10);
            if (n == 0 || n > MAX_DEVICES) {
                usage(stderr);
                return 2;
            }
            print_devices(n);
            return 0;
        }
        case 'b':
            bind_host = optarg;
            break;
        case 'B':
            base = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'g': {
            uint64_t eui = strtoull(optarg, NULL, 16);
            for (int i = 0; i < 8; i++)
                gateway_eui[i] = (uint8_t)(eui >> (56 - 8 * i));
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (port == 0 || port > 65535 || devices == 0 || devices > MAX_DEVICES || !(rate > 0) ||
        (count == 0 && !(duration_s > 0)) || acked_path == NULL) {
        usage(stderr);
        return 2;
    }
    FILE *acked = fopen(acked_path, "w");
    FILE *sent = sent_path ? fopen(sent_path, "w") : NULL;
    if (acked == NULL || (sent_path && sent == NULL)) {
        fprintf(stderr, "sb-gwmp-fleet: cannot write the logs: %s\n", strerror(errno));
        return 2;
    }
    fprintf(acked, "device,fcnt,seq\n");
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);

    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct sockaddr_in from = {.sin_family = AF_INET};
    if (bind_host && (inet_pton(AF_INET, bind_host, &from.sin_addr) != 1 || fd < 0 ||
                      bind(fd, (struct sockaddr *)&from, sizeof(from)) != 0)) {
        fprintf(stderr, "sb-gwmp-fleet: --bind %s: %s\n", bind_host, strerror(errno));
        return 2;
    }
    if (fd < 0 || connect(fd, (struct sockaddr *)&to, sizeof(to)) != 0) {
        fprintf(stderr, "sb-gwmp-fleet: socket: %s\n", strerror(errno));
        return 2;
    }
    static struct in_flight fl;
    for (size_t t = 0; t < N_TOKENS; t++)
        fl.slot_of_token[t] = -1;
    uint32_t *fcnt = calloc(devices, sizeof(*fcnt));
    if (fcnt == NULL)
        return 2;
    for (unsigned i = 0; i < devices; i++)
        fcnt[i] = fcnt_start;

    uint64_t n_sent = 0, n_acked = 0, n_timed_out = 0;
    uint16_t token = (uint16_t)(mono_ms() & 0xffff);
    int64_t start = mono_ms();
    int64_t period_us = (int64_t)(1e6 / rate);
    unsigned next_device = 0;
    bool sending = true;
    for (;;) {
        int64_t now = mono_ms();
        if (stop_requested || (count && n_sent >= count) ||
            (duration_s > 0 && now - start >= (int64_t)(duration_s * 1000)))
            sending = false;
        /* Retire the oldest entries: answered, or unanswered past the timeout. */
        while (fl.count > 0) {
            struct outstanding *o = &fl.ring[fl.head];
            if (!o->acked && now - o->sent_ms <= (int64_t)timeout_ms)
                break;
            if (!o->acked) {
                n_timed_out++;
                fl.unacked--;
                fl.slot_of_token[o->token] = -1;
            }
            fl.head = (fl.head + 1) % MAX_OUTSTAND;
            fl.count--;
        }
        if (!sending && fl.unacked == 0)
            break;
        /* Next send due at start + n_sent * period. */
        int64_t due_ms = start + (int64_t)(n_sent * (uint64_t)period_us / 1000);
        if (sending && now >= due_ms) {
            if (fl.count == MAX_OUTSTAND) {
                usleep(1000);
                continue;
            }
            unsigned dev = next_device;
            next_device = (next_device + 1) % devices;
            uint8_t nwk[LORAWAN_KEY_SIZE], app[LORAWAN_KEY_SIZE];
            device_keys(base + dev, nwk, app);
            uint8_t payload[128], phy[LORAWAN_PHY_MAX_BYTES];
            size_t payload_len = encode_uplink(fcnt[dev], dev, samples, payload, sizeof(payload));
            size_t phy_len = lorawan_build_data(LORAWAN_UNCONFIRMED_UP, DEV_ADDR_BASE + base + dev,
                                                0, fcnt[dev], NULL, 0, true, 1, payload,
                                                payload_len, nwk, app, phy, sizeof(phy));
            struct timespec wall;
            clock_gettime(CLOCK_REALTIME, &wall);
            struct gwmp_rxpk rx = {.has_time = true,
                                   .time_unix_us =
                                       (int64_t)wall.tv_sec * 1000000 + wall.tv_nsec / 1000,
                                   .tmst_us = (uint32_t)(now * 1000),
                                   .freq_hz = 868100000,
                                   .datr = "SF7BW125",
                                   .codr = "4/5",
                                   .rssi_dbm = (int16_t)(-70 - (int)(dev % 30)),
                                   .lsnr_db = 7.5,
                                   .size = phy_len};
            memcpy(rx.data, phy, phy_len);
            uint8_t datagram[1024];
            token++;
            size_t n = phy_len ? gwmp_build_push_data(token, gateway_eui, &rx, 1, NULL, datagram,
                                                      sizeof(datagram))
                               : 0;
            if (n == 0) {
                fprintf(stderr, "sb-gwmp-fleet: cannot build a frame\n");
                return 2;
            }
            if (send(fd, datagram, n, 0) < 0 && errno != ECONNREFUSED)
                fprintf(stderr, "sb-gwmp-fleet: send: %s\n", strerror(errno));
            size_t slot = (fl.head + fl.count) % MAX_OUTSTAND;
            fl.ring[slot] = (struct outstanding){
                .token = token, .acked = false, .sent_ms = now, .device = dev, .fcnt = fcnt[dev]};
            fl.slot_of_token[token] = (int32_t)slot;
            fl.count++;
            fl.unacked++;
            if (sent) {
                fprintf(sent, "%016" PRIx64 ",%" PRIu32 ",", EUI_BASE + base + dev, fcnt[dev]);
                print_hex(sent, phy, phy_len);
                fputc('\n', sent);
            }
            fcnt[dev]++;
            n_sent++;
            continue;
        }
        int wait_ms = sending ? (int)(due_ms - now) : 20;
        if (wait_ms < 0)
            wait_ms = 0;
        if (wait_ms > 20)
            wait_ms = 20;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, wait_ms) <= 0)
            continue;
        uint8_t reply[64];
        ssize_t got;
        while ((got = recv(fd, reply, sizeof(reply), MSG_DONTWAIT)) > 0) {
            struct gwmp_header header;
            enum gwmp_drop why;
            if (gwmp_parse_header(reply, (size_t)got, GWMP_FORWARDER, &header, &why) != 0 ||
                header.type != GWMP_PUSH_ACK)
                continue;
            uint16_t t = header.token;
            int32_t slot = fl.slot_of_token[t];
            if (slot < 0)
                continue; /* unknown, repeated, or answered after its timeout */
            struct outstanding *o = &fl.ring[slot];
            fl.slot_of_token[t] = -1;
            o->acked = true;
            fl.unacked--;
            n_acked++;
            fprintf(acked, "%016" PRIx64 ",%" PRIu32 ",%" PRIu32 "\n", EUI_BASE + base + o->device,
                    o->fcnt, o->fcnt);
        }
    }
    double elapsed_s = (double)(mono_ms() - start) / 1000.0;
    fclose(acked);
    if (sent)
        fclose(sent);
    fprintf(stderr,
            "sb-gwmp-fleet: sent %" PRIu64 ", acknowledged %" PRIu64 ", not acknowledged %" PRIu64
            " in %.3f s\n",
            n_sent, n_acked, n_timed_out, elapsed_s);
    free(fcnt);
    close(fd);
    return n_timed_out == 0 ? 0 : 1;
}
