/*
 * output.h - an output: a place the pending queue is delivered to (a broker, an HTTP API).
 *
 * Each output runs on its own (its thread, its session) and keeps its own position over
 * the journal. It reads the pending frames oldest first (store/journal.h), asks the journal
 * writer what its progress says of each (journal_writer_delivery: skip what it delivered
 * already, while another output still holds the frame pending), delivers the rest in order
 * per device, and marks each delivered frame through the writer with its index
 * (journal_writer_mark_delivered). A frame leaves the pending queue once every configured
 * output has delivered it; a slow or stuck output holds back only the trimming of frames it
 * has not delivered, never another output's deliveries.
 *
 * An output type is a table of functions, Redis- and libuv-style; an output is an instance
 * pointer that only its type knows. The daemon (main.c) holds the table of the configured
 * outputs: a new kind of output is one new file that defines its struct output_type, and
 * one row there. An output's name is the key of its progress in the journal, so it must
 * stay the same from one start to the next ("mqtt" for the [mqtt] section's publisher).
 *
 * Life cycle: start on the main thread after the journal writer (it may read the journal
 * at once); notify from any thread, often (the writer's "frames committed": keep it cheap);
 * get_stats from any thread; stop on the main thread before the writer stops, accepting
 * NULL and giving the final figures. Errors: start returns -1 with a message in err.
 */
#ifndef SENSORBRO_OUTPUT_H
#define SENSORBRO_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct journal_writer;
struct report;

/* What an output is given at start. It and everything it points to outlive the output. */
struct output_context {
    const char *name;              /* the output's name: its progress in the journal */
    unsigned index;                /* its index among the writer's outputs */
    const void *options;           /* its section of the configuration, as its type reads it */
    const char *gateway_id;        /* names this gateway in topics and messages */
    const char *journal_path;      /* for a read connection of its own */
    struct journal_writer *writer; /* marks and quarantine moves go here */
};

/* What an output's figures say of its liveness and state, for the service watchdog and the
 * status line (main.c, service.c). */
struct output_health {
    const char *destination; /* what it delivers to, e.g. "broker" */
    const char *state;       /* e.g. "connected", "connecting", "disconnected, reconnecting" */
    bool connected;          /* delivering now */
    uint32_t in_flight;      /* handed over and not yet answered */
    uint64_t delivered;      /* since start */
    /* Its thread last went round its loop (it must at least once a second, whatever the
     * destination does), and the destination last answered one of the in-flight deliveries
     * (or the window last filled from empty); CLOCK_MONOTONIC ms. */
    int64_t loop_mono_ms;
    int64_t answer_mono_ms;
    /* How much longer than the stall limit in-flight deliveries may wait unanswered before
     * the output counts as wedged (e.g. two MQTT keepalives, after which the session would
     * have declared a silent broker lost). */
    int64_t answer_grace_ms;
};

struct output_type {
    const char *name;  /* the type, e.g. "mqtt" */
    size_t stats_size; /* of the type's stats struct, which get_stats and stop fill */
    /* Starts the output; *out is its instance. Returns 0, or -1 with err. */
    int (*start)(void **out, const struct output_context *ctx, char *err, size_t err_size);
    /* New frames were committed. */
    void (*notify)(void *output);
    void (*get_stats)(void *output, void *stats);
    /* The figures of a stats struct it filled (report.h). */
    void (*collect)(const void *stats, struct report *r);
    /* Its liveness and state from a stats struct it filled and its options. */
    void (*health)(const void *stats, const void *options, struct output_health *h);
    /* Stops and frees the output (NULL accepted); final_stats (may be NULL) receives its
     * figures as they stand when nothing more can change them. */
    void (*stop)(void *output, void *final_stats);
};

#endif
