/*
 * udp_pace.c - sb-udp-pace, the sender that feeds the benchmark's Python bridge
 * (tests/bench/python_bridge.py): raw Uplink datagrams over UDP at a steady rate, as many
 * devices would send them, from a process cheap enough not to be what limits the run.
 *
 *   sb-udp-pace --port P --frames FILE --rate R --count N
 *
 * FILE holds lines "<device EUI, 16 hex digits> <Uplink payload in hex>", the output of
 * `sensorbro-fleet-sim --encode-only`. Each datagram is the 8 bytes of the EUI followed by
 * the payload; line i goes out at start + i/R seconds (to 127.0.0.1:P), the file's lines
 * taken in turn, again from the top when N is larger. Nothing is acknowledged: whatever the
 * receiver does not read in time is lost in its socket buffer, which is what the benchmark
 * looks for. Prints "sent N in S s: R/s" to stdout.
 * Exit status: 0 when all N were sent, 1 on a send error, 2 on a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define EUI_BYTES      8
#define MAX_FRAME      256
#define MAX_FRAMES     10000000u
#define MAX_LINE_BYTES 1024

struct frame {
    uint8_t bytes[EUI_BYTES + MAX_FRAME];
    size_t len;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes len hex digits into out (len / 2 bytes); false on anything but hex digits. */
static bool unhex(const char *text, size_t len, uint8_t *out)
{
    if (len % 2 != 0)
        return false;
    for (size_t i = 0; i < len; i += 2) {
        int hi = hex_value(text[i]), lo = hex_value(text[i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

/* One line "<eui> <payload hex>" into f; false when it is not that. */
static bool parse_line(const char *line, struct frame *f)
{
    const char *space = strchr(line, ' ');
    if (space == NULL || space - line != 2 * EUI_BYTES)
        return false;
    size_t hex_len = strcspn(space + 1, "\r\n");
    if (hex_len == 0 || hex_len > 2 * MAX_FRAME)
        return false;
    if (!unhex(line, 2 * EUI_BYTES, f->bytes) || !unhex(space + 1, hex_len, f->bytes + EUI_BYTES))
        return false;
    f->len = EUI_BYTES + hex_len / 2;
    return true;
}

static struct frame *read_frames(const char *path, size_t *count)
{
    FILE *in = fopen(path, "r");
    if (in == NULL) {
        fprintf(stderr, "sb-udp-pace: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1024, n = 0;
    struct frame *frames = malloc(cap * sizeof(*frames));
    char line[MAX_LINE_BYTES];
    while (frames != NULL && fgets(line, sizeof(line), in) != NULL) {
        if (n == MAX_FRAMES) {
            fprintf(stderr, "sb-udp-pace: %s: more than %u frames\n", path, MAX_FRAMES);
            break;
        }
        if (n == cap) {
            cap *= 2;
            struct frame *bigger = realloc(frames, cap * sizeof(*frames));
            if (bigger == NULL) {
                free(frames);
                frames = NULL;
                break;
            }
            frames = bigger;
        }
        if (!parse_line(line, &frames[n])) {
            fprintf(stderr, "sb-udp-pace: %s:%zu: expected \"<16 hex digits> <payload hex>\"\n",
                    path, n + 1);
            free(frames);
            frames = NULL;
            break;
        }
        n++;
    }
    fclose(in);
    if (frames != NULL && n == 0) {
        fprintf(stderr, "sb-udp-pace: %s: no frames\n", path);
        free(frames);
        frames = NULL;
    }
    *count = n;
    return frames;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"port", required_argument, NULL, 'p'},
                                         {"frames", required_argument, NULL, 'f'},
                                         {"rate", required_argument, NULL, 'r'},
                                         {"count", required_argument, NULL, 'c'},
                                         {NULL, 0, NULL, 0}};
    unsigned port = 0;
    unsigned long long count = 0;
    double rate = 0;
    const char *path = NULL;
    int opt;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'p':
            port = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'f':
            path = optarg;
            break;
        case 'r':
            rate = strtod(optarg, NULL);
            break;
        case 'c':
            count = strtoull(optarg, NULL, 10);
            break;
        default:
            fprintf(stderr, "usage: sb-udp-pace --port P --frames FILE --rate R --count N\n");
            return 2;
        }
    }
    if (port == 0 || port > 65535 || path == NULL || !(rate > 0) || rate > 1e6 || count == 0 ||
        count > MAX_FRAMES) {
        fprintf(stderr, "usage: sb-udp-pace --port P --frames FILE --rate R --count N\n");
        return 2;
    }
    size_t n_frames = 0;
    struct frame *frames = read_frames(path, &n_frames);
    if (frames == NULL)
        return 2;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&to, sizeof(to)) != 0) {
        fprintf(stderr, "sb-udp-pace: socket: %s\n", strerror(errno));
        free(frames);
        return 2;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);

    unsigned long long sent = 0, errors = 0;
    double start_s = mono_s();
    while (sent < count && !stop_requested) {
        double now_s = mono_s();
        double due_s = start_s + (double)sent / rate;
        if (due_s > now_s) {
            double wait_s = due_s - now_s;
            struct timespec d = {.tv_sec = (time_t)wait_s,
                                 .tv_nsec = (long)((wait_s - (double)(time_t)wait_s) * 1e9)};
            nanosleep(&d, NULL);
            continue;
        }
        const struct frame *f = &frames[sent % n_frames];
        /* ECONNREFUSED: nobody listened when an earlier datagram arrived; it was lost, as
         * this one may be: the receiver's loss, counted by the benchmark. */
        if (send(fd, f->bytes, f->len, 0) < 0 && errno != ECONNREFUSED && errors++ == 0)
            fprintf(stderr, "sb-udp-pace: send: %s\n", strerror(errno));
        sent++;
    }
    double elapsed_s = mono_s() - start_s;
    printf("sent %llu in %.3f s: %.1f/s\n", sent, elapsed_s,
           elapsed_s > 0 ? (double)sent / elapsed_s : 0.0);
    close(fd);
    free(frames);
    return errors == 0 && sent == count ? 0 : 1;
}
