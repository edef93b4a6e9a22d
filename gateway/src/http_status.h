/*
 * http_status.h - the daemon's HTTP endpoint (libmicrohttpd): the status page for people,
 * /metrics for Prometheus, /healthz for load balancers and probes.
 *
 *   /               server-rendered HTML (no JavaScript, nothing from elsewhere, inline CSS
 *                   and SVG): gateway health, then one row per device grouped by the
 *                   registry's label.building and label.room, with a 24 h sparkline per
 *                   quantity; Danish or English (http.language)
 *   /device/<eui>   one device: its figures and its recent samples
 *   /metrics        Prometheus text exposition format 0.0.4: the same list the status table
 *                   gets (report.h collectors, handed over by main.c), the journal's depth
 *                   and oldest pending age, and per-device gauges
 *   /healthz        200 "ok" when main.c's pipeline_alive says so, else 503 with its reason
 *
 * Where the device figures come from: a thread of this module with its own read-only
 * journal connection reads every committed frame (journal_read_frames, published or not)
 * once a second after its cursor, decodes it with its own decoder, and keeps per device
 * the last reception, RSSI/SNR, battery and, per quantity, a bounded history (96 points
 * of 15 min: 24 h). It reads the registry (read-only) for names and labels when the
 * registry's settings generation changes. So nothing on the ingest or delivery path
 * knows this module exists, and what the page shows is what the journal holds: durable.
 *
 * Threads: http_status_start, _update and _stop are main's. libmicrohttpd runs its own
 * thread; the reader is this module's. Both share the state below one mutex, held only to
 * copy in or render out. Ownership: the struct is the module's; _update copies what it
 * is given. Errors: start returns -1 with a message naming the config key; while running,
 * a journal read that fails is logged (rate-limited by log.c) and retried next second.
 */
#ifndef SENSORBRO_HTTP_STATUS_H
#define SENSORBRO_HTTP_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

#define HTTP_STATUS_MAX_DEVICES    256
#define HTTP_STATUS_MAX_SERIES     8  /* quantities (with channel) per device */
#define HTTP_STATUS_HISTORY_POINTS 96 /* per quantity: 24 h of 15 min buckets */
#define HTTP_STATUS_BUCKET_S       900

struct http_status_options {
    const char *bind; /* numeric IPv4 or IPv6 address */
    uint16_t port;
    const char *user;          /* "": no basic auth */
    const char *password_file; /* its first line is the password; with user */
    /* "<file>:<line>: http.password_file" or the like, for errors about the file */
    const char *password_origin;
    bool danish; /* http.language = da */
    const char *journal_path;
    const char *gateway_id;
};

struct http_status;

/* Reads the password file, opens the read-only journal and registry connections, starts
 * the reader and the HTTP server. Returns 0, or -1 with err (nothing left running). */
int http_status_start(struct http_status **out, const struct http_status_options *opts, char *err,
                      size_t err_size);
/* The main loop's verdict and counters of this tick (copied). why: "" when alive. */
void http_status_update(struct http_status *h, bool alive, const char *why,
                        const struct metrics *m);
/* Stops the server (waits for requests in progress) and the reader. NULL is fine. */
void http_status_stop(struct http_status *h);

#endif
