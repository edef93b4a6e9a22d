/*
 * ingest/ingest.h - the ingest core: where a sensor is acknowledged.
 *
 * Every transport (ingest/coap.c, ingest/semtech_udp.c, ingest/lns_mqtt.c) takes in a frame
 * in the same steps, and all of them but the transport's own are here:
 *
 *   classify  decode the payload once (decode.h) and say what the frame is: appended to the
 *             pending queue, or quarantined with the decoder's reason. The record's
 *             has_uplink, seq and status (the journal's message-id epoch and resend check,
 *             journal.h) are filled here, the same way for every transport.
 *   submit    hand the record to the journal writer (store/journal_writer.h). A refusal
 *             (the journal full under reject_new, the writer's queue full or the writer
 *             stopping) comes back at once and the adapter answers it there.
 *   complete  the writer commits the frame's batch (or fails to) and calls back on its own
 *             thread; the result is queued for the adapter, whose loop wakes on ingest_fd.
 *   answer    on the adapter's thread, ingest_complete runs the adapter's answer function
 *             for each completed submission. This is the only way an adapter learns that a
 *             frame is durable, so it is the only place a sensor is told "stored": CoAP
 *             2.04 (4.00 for a quarantined frame, 5.03 when not stored), GWMP PUSH_ACK and
 *             the RX1 downlink, the LNS broker's PUBACK. Durable before acknowledged.
 *   drain     on stop, the adapter keeps its loop running until every submission is
 *             completed and answered (ingest_drain).
 *
 * The answer itself is the transport's: this module decides when (after the commit, once),
 * the adapter decides how. Two ways to wait for the commit:
 *   INGEST_MAILBOX   the adapter's loop polls ingest_fd() (an eventfd) next to its socket and
 *                    calls ingest_complete(), which runs opts.answer for each completion.
 *                    The answer ends with ingest_answered(), in the answer function or later
 *                    on the same thread (CoAP: libcoap writes the response in a later call
 *                    of the request handler, ingest/coap.c).
 *   INGEST_BLOCKING  ingest_wait() blocks its caller until the submission completes, and the
 *                    submission counts as answered when it returns. For the LNS adapter,
 *                    whose Paho message callback must not return before the commit
 *                    (ingest/lns_mqtt.h says why).
 *
 * Outcomes. A resend (journal.h: the same device, seq and bytes within the resend window)
 * completes like a commit, as journal_writer does: its sender is told "stored", which it is.
 *
 * Invariants (ingest_ok, asserted): outstanding == submitted - answered, and answered <=
 * completed <= submitted, so outstanding is never negative; a ticket goes IDLE -> SUBMITTED
 * -> COMPLETED -> (mailbox: ANSWERING ->) IDLE, so nothing is completed or answered twice.
 *
 * Threads: a struct ingest belongs to one adapter thread, which calls every function but
 * ingest_outstanding (any thread). In blocking mode that thread is whichever calls
 * classify/submit/wait, one frame at a time (Paho's receive thread). The writer's completion
 * (writer thread) only records the result under the core's mutex and, in mailbox mode,
 * writes the eventfd when the queue was empty; it never calls the adapter.
 * Ownership: the adapter owns its tickets (embedded in its request or group) and keeps each
 * alive from ingest_submit until it is answered.
 */
#ifndef SENSORBRO_INGEST_INGEST_H
#define SENSORBRO_INGEST_INGEST_H

#include <stddef.h>

#include "decode.h"
#include "frame.h"
#include "store/journal_writer.h"

/* A quarantine reason: the decoder's, or the adapter's own (ingest_classify_refused). It is
 * journaled and, for CoAP, the 4.00's diagnostic payload. */
#define INGEST_REASON_SIZE DECODE_REASON_SIZE

enum ingest_verdict {
    INGEST_APPEND,     /* a valid Uplink: to the pending queue */
    INGEST_QUARANTINE, /* not one: to quarantine, with the reason */
};

/* What the adapter answers from: ingest_submit's result, then the completion's. */
enum ingest_result {
    INGEST_PENDING,      /* submitted: the completion follows, after the commit */
    INGEST_STORED,       /* committed (pending queue or quarantine, as classified), or a
                            resend of a frame stored before */
    INGEST_NOT_STORED,   /* the commit failed: nothing of it was stored */
    INGEST_JOURNAL_FULL, /* refused at submit: the journal is at its cap under reject_new */
    INGEST_QUEUE_FULL,   /* refused at submit: the writer's queue is full, or it is stopping */
};

enum ingest_mode { INGEST_MAILBOX, INGEST_BLOCKING };

enum ingest_ticket_state {
    INGEST_TICKET_IDLE, /* 0: a zeroed ticket is ready for use */
    INGEST_TICKET_SUBMITTED,
    INGEST_TICKET_COMPLETED,
    INGEST_TICKET_ANSWERING, /* mailbox: handed to the answer function, not yet answered */
};

/* One frame on its way through the core; embedded by the adapter in its own context. */
struct ingest_ticket {
    enum ingest_verdict verdict;     /* classify's */
    char reason[INGEST_REASON_SIZE]; /* quarantine: why; "" for an append */
    void *ctx;                       /* the adapter's, as given to ingest_submit */
    enum ingest_result result;       /* once completed: INGEST_STORED or INGEST_NOT_STORED */
    /* the core's */
    enum ingest_ticket_state state;
    struct ingest *owner;
    struct ingest_ticket *next;
};

/* The adapter's answer to one completed submission (mailbox mode, adapter thread). It tells
 * the sender from t->result and t->verdict, and ends with ingest_answered(in, t), now or
 * later on the same thread. */
typedef void (*ingest_answer_fn)(void *adapter, struct ingest_ticket *t);

/* One turn of the adapter's loop, waiting at most max_wait_ms (ingest_drain). */
typedef void (*ingest_step_fn)(void *adapter, int max_wait_ms);

struct ingest_options {
    struct journal_writer *writer;
    enum ingest_mode mode;
    ingest_answer_fn answer; /* mailbox mode */
    void *adapter;           /* the answer's first argument */
};

struct ingest;

/* Returns 0, or -1 with errno set (out of memory, eventfd). */
int ingest_create(struct ingest **out, const struct ingest_options *opts);
/* Frees the core; nothing may be outstanding (drained). NULL is accepted. */
void ingest_free(struct ingest *in);

/* Decodes rec's payload (received at frame_anchor_ms(rec)) and fills t->verdict and
 * t->reason, and rec's has_uplink, seq and status: the decoded seq and status for an
 * append; false, 0 and 0 for a quarantine. Returns the verdict. */
enum ingest_verdict ingest_classify(struct ingest *in, struct frame_record *rec,
                                    struct ingest_ticket *t);
/* For a frame its transport already found bad (the LNS adapter: an event the ChirpStack
 * codec refused): quarantine with reason (cut to INGEST_REASON_SIZE), nothing decoded. */
void ingest_classify_refused(struct frame_record *rec, struct ingest_ticket *t, const char *reason);

/* Hands rec (copied) to the writer as classified in t, with ctx for the answer. Returns
 * INGEST_PENDING, or INGEST_JOURNAL_FULL / INGEST_QUEUE_FULL when refused, in which case
 * nothing is outstanding and the adapter answers at once. t must be idle. */
enum ingest_result ingest_submit(struct ingest *in, struct ingest_ticket *t,
                                 const struct frame_record *rec, void *ctx);

/* Mailbox mode: readable when completions are waiting (poll/epoll it, EPOLLIN). */
int ingest_fd(const struct ingest *in);
/* Mailbox mode: makes ingest_fd readable, to wake the adapter's loop (e.g. to stop). */
void ingest_wake(struct ingest *in);
/* Mailbox mode: runs the answer function for every completion waiting, newest first (an
 * adapter that undoes per-device state for frames not stored, edge_ns_abandon, then unwinds
 * it in the reverse of the order it was taken). Returns how many. */
size_t ingest_complete(struct ingest *in);
/* Mailbox mode: the sender of t has been answered. Exactly once per completion. */
void ingest_answered(struct ingest *in, struct ingest_ticket *t);

/* Blocking mode: waits until t (submitted) completes, counts it answered, and returns its
 * result: INGEST_STORED or INGEST_NOT_STORED. */
enum ingest_result ingest_wait(struct ingest *in, struct ingest_ticket *t);

/* Submissions not yet answered. Any thread. */
size_t ingest_outstanding(struct ingest *in);
/* Runs step(adapter, ...) until nothing is outstanding: the drain on stop. Bounded by the
 * writer, which completes every submission it accepted (a failed commit completes too), so
 * the writer must still be running. */
void ingest_drain(struct ingest *in, ingest_step_fn step, void *adapter);

#endif
