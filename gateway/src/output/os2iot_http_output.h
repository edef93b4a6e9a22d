/*
 * os2iot_http_output.h - the os2iot-http output: pending frames to OS2iot's generic HTTP
 * receiver (GENERIC_HTTP devices), one POST per frame, in order per device.
 *
 * Each frame is decoded and rendered as the MQTT output renders it (render.c: the gateway's
 * JSON, with sample times, seq and message id) and POSTed to <url>?apiKey=<key>, where key is
 * the device's os2iot.api_key in the registry (`sensorbroctl device set <eui>
 * os2iot.api_key=...`, read at every request, so a fixed key applies at once). One libcurl
 * easy handle, reused: one keep-alive connection; TLS verified (peer and host) against
 * ca_file or the system's CAs. What an answer means:
 *   2xx                  delivered: marked through the writer (journal_writer_mark_delivered);
 *   4xx, or no api_key   the device is misconfigured (OS2iot answers 403 to an unknown key):
 *                        logged once per device until it delivers again, counted; its frames
 *                        stay pending and are tried again every refused_retry_s or as soon as
 *                        the registry changes; other devices go on;
 *   5xx, timeout, error  OS2iot or the path is down: everything pauses with full-jitter
 *                        backoff (retry_min_ms .. retry_max_ms) and starts again from the
 *                        frame that failed.
 * A device whose os2iot.output is "mqtt" is not this output's: its frames are marked as
 * delivered here without a request (counted as skipped). The API key is never logged.
 *
 * Order: frames go one at a time in journal order; a device held (4xx) is skipped for the
 * rest of the pass, so no mark passes a frame of its device that was not delivered.
 *
 * Threads: its own thread does the requests; notify and get_stats from any thread; start
 * and stop from the main thread (stop aborts a request in progress within a second).
 */
#ifndef SENSORBRO_OS2IOT_HTTP_OUTPUT_H
#define SENSORBRO_OS2IOT_HTTP_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "output/output.h"

enum os2iot_http_state {
    OS2IOT_HTTP_IDLE,       /* nothing to send, or the last request was answered */
    OS2IOT_HTTP_RETRYING,   /* the last request failed (5xx, timeout): backing off */
    OS2IOT_HTTP_DELIVERING, /* a request is out */
};

struct os2iot_http_stats {
    enum os2iot_http_state state;
    uint64_t sent;                  /* requests made */
    uint64_t delivered;             /* answered 2xx */
    uint64_t refused;               /* answered 4xx, or not sent for want of an API key */
    uint64_t failures;              /* 5xx, timeouts, connection and TLS errors */
    uint64_t skipped;               /* frames of devices with os2iot.output = mqtt */
    uint64_t quarantined;           /* pending frames that failed to decode or render */
    uint32_t misconfigured_devices; /* devices held now for a 4xx or a missing key */
    uint32_t in_flight;             /* 0 or 1 */
    int64_t loop_mono_ms;           /* liveness: its thread, at least once a second */
    int64_t answer_mono_ms;         /* OS2iot last answered, or the request went out */
};

/* The type, for the daemon's table of outputs; its options are a struct config_os2iot_http. */
extern const struct output_type os2iot_http_output_type;

#endif
