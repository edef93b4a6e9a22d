/*
 * ingest/ingest.c - the ingest core behind ingest/ingest.h: where a sensor is acknowledged.
 *
 * The completion mailbox is a stack of tickets under `lock`: the writer's callback pushes,
 * the adapter's thread takes the whole stack at once. The eventfd is written only when the
 * stack was empty (a non-empty stack already has a wake-up on its way: the adapter reads the
 * eventfd before it takes the stack), and it is written under the lock, so that the adapter
 * can free the core as soon as its drain sees nothing outstanding: after the push, the
 * writer's thread touches nothing of the core but the mutex it unlocks.
 *
 * The counters (submitted, completed, answered, outstanding) are the core's accounting, not
 * statistics: each adapter keeps counting what it answered under its own names.
 */
#include "ingest/ingest.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* The step of a drain: short, so that a stop does not linger once the last answer is out. */
#define DRAIN_STEP_MS 50

_Static_assert(INGEST_REASON_SIZE <= JOURNAL_REASON_SIZE, "a quarantine reason is journaled whole");

struct ingest {
    struct ingest_options opts;
    int event_fd; /* mailbox mode; -1 in blocking mode */

    pthread_mutex_t lock;
    pthread_cond_t completed_cond; /* blocking mode: a completion arrived */
    /* --- under lock --- */
    struct ingest_ticket *done_head; /* completed, not yet taken; newest first */
    uint64_t submitted, completed, answered;
    size_t outstanding; /* submitted and not yet answered */

    /* adapter thread only */
    struct decoder decoder;
    struct decoded_uplink uplink;
};

#ifndef NDEBUG
/* The accounting of the header. Under lock. */
static bool ingest_ok_locked(const struct ingest *in)
{
    return in->outstanding == in->submitted - in->answered && in->answered <= in->completed &&
           in->completed <= in->submitted;
}
#endif

int ingest_create(struct ingest **out, const struct ingest_options *opts)
{
    *out = NULL;
    struct ingest *in = calloc(1, sizeof(*in));
    if (in == NULL)
        return -1;
    in->opts = *opts;
    in->event_fd = -1;
    if (opts->mode == INGEST_MAILBOX) {
        in->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (in->event_fd < 0) {
            int saved = errno;
            free(in);
            errno = saved;
            return -1;
        }
    }
    pthread_mutex_init(&in->lock, NULL);
    pthread_cond_init(&in->completed_cond, NULL);
    *out = in;
    return 0;
}

void ingest_free(struct ingest *in)
{
    if (in == NULL)
        return;
    pthread_mutex_lock(&in->lock);
    assert(in->outstanding == 0 && in->done_head == NULL && ingest_ok_locked(in));
    pthread_mutex_unlock(&in->lock);
    if (in->event_fd >= 0)
        close(in->event_fd);
    pthread_cond_destroy(&in->completed_cond);
    pthread_mutex_destroy(&in->lock);
    free(in);
}

/* ---- classify ---- */

enum ingest_verdict ingest_classify(struct ingest *in, struct frame_record *rec,
                                    struct ingest_ticket *t)
{
    /* Sample times of a node without a clock count back from when the frame was heard (the
     * LNS event's time), else from its receipt: the same instant the publisher decodes at. */
    if (decode_uplink(&in->decoder, rec->payload, rec->payload_len, frame_anchor_ms(rec),
                      &in->uplink, t->reason) == 0) {
        t->verdict = INGEST_APPEND;
        t->reason[0] = '\0';
        rec->has_uplink = true; /* for the journal's message ids and resend check */
        rec->seq = in->uplink.seq;
        rec->status = in->uplink.status;
    } else {
        t->verdict = INGEST_QUARANTINE;
        rec->has_uplink = false; /* no epoch, no resend check: the legacy id (render.h) */
        rec->seq = 0;
        rec->status = 0;
    }
    return t->verdict;
}

void ingest_classify_refused(struct frame_record *rec, struct ingest_ticket *t, const char *reason)
{
    t->verdict = INGEST_QUARANTINE;
    snprintf(t->reason, sizeof(t->reason), "%s", reason);
    rec->has_uplink = false;
    rec->seq = 0;
    rec->status = 0;
}

/* ---- submit and complete ---- */

/* The writer's completion, on the writer's thread, after the commit. */
static void on_done(void *ctx, int status, int64_t id)
{
    (void)id;
    struct ingest_ticket *t = ctx;
    struct ingest *in = t->owner;
    pthread_mutex_lock(&in->lock);
    assert(t->state == INGEST_TICKET_SUBMITTED); /* the writer completes each frame once */
    t->result = status == 0 ? INGEST_STORED : INGEST_NOT_STORED;
    t->state = INGEST_TICKET_COMPLETED;
    in->completed++;
    assert(ingest_ok_locked(in));
    if (in->opts.mode == INGEST_MAILBOX) {
        bool was_empty = in->done_head == NULL;
        t->next = in->done_head;
        in->done_head = t;
        if (was_empty) {
            uint64_t one = 1;
            ssize_t ignored = write(in->event_fd, &one, sizeof(one));
            (void)ignored; /* only fails when the counter is full: then it is readable */
        }
    } else {
        pthread_cond_broadcast(&in->completed_cond);
    }
    pthread_mutex_unlock(&in->lock);
}

enum ingest_result ingest_submit(struct ingest *in, struct ingest_ticket *t,
                                 const struct frame_record *rec, void *ctx)
{
    assert(t->state == INGEST_TICKET_IDLE);
    t->ctx = ctx;
    t->owner = in;
    t->next = NULL;
    t->state = INGEST_TICKET_SUBMITTED; /* before the writer can see it */
    pthread_mutex_lock(&in->lock);
    in->submitted++;
    in->outstanding++;
    pthread_mutex_unlock(&in->lock);
    int rc = t->verdict == INGEST_QUARANTINE
                 ? journal_writer_quarantine(in->opts.writer, rec, t->reason, on_done, t)
                 : journal_writer_append(in->opts.writer, rec, on_done, t);
    if (rc == 0)
        return INGEST_PENDING;
    /* refused: the writer holds nothing of it and will not call back */
    pthread_mutex_lock(&in->lock);
    in->submitted--;
    in->outstanding--;
    assert(ingest_ok_locked(in));
    pthread_mutex_unlock(&in->lock);
    t->state = INGEST_TICKET_IDLE;
    return rc == JOURNAL_WRITER_FULL ? INGEST_JOURNAL_FULL : INGEST_QUEUE_FULL;
}

int ingest_fd(const struct ingest *in)
{
    return in->event_fd;
}

void ingest_wake(struct ingest *in)
{
    uint64_t one = 1;
    ssize_t ignored = write(in->event_fd, &one, sizeof(one));
    (void)ignored;
}

size_t ingest_complete(struct ingest *in)
{
    assert(in->opts.mode == INGEST_MAILBOX);
    uint64_t count;
    ssize_t ignored = read(in->event_fd, &count, sizeof(count)); /* before taking the stack */
    (void)ignored;
    pthread_mutex_lock(&in->lock);
    struct ingest_ticket *t = in->done_head;
    in->done_head = NULL;
    pthread_mutex_unlock(&in->lock);
    size_t n = 0;
    while (t) {
        struct ingest_ticket *next = t->next; /* the answer may free t */
        assert(t->state == INGEST_TICKET_COMPLETED && t->owner == in);
        t->state = INGEST_TICKET_ANSWERING;
        in->opts.answer(in->opts.adapter, t);
        t = next;
        n++;
    }
    return n;
}

void ingest_answered(struct ingest *in, struct ingest_ticket *t)
{
    assert(t->state == INGEST_TICKET_ANSWERING && t->owner == in); /* answered once */
    t->state = INGEST_TICKET_IDLE;
    pthread_mutex_lock(&in->lock);
    assert(in->outstanding > 0);
    in->outstanding--;
    in->answered++;
    assert(ingest_ok_locked(in));
    pthread_mutex_unlock(&in->lock);
}

enum ingest_result ingest_wait(struct ingest *in, struct ingest_ticket *t)
{
    assert(in->opts.mode == INGEST_BLOCKING && t->owner == in);
    pthread_mutex_lock(&in->lock);
    while (t->state == INGEST_TICKET_SUBMITTED)
        pthread_cond_wait(&in->completed_cond, &in->lock);
    assert(t->state == INGEST_TICKET_COMPLETED);
    t->state = INGEST_TICKET_IDLE;
    assert(in->outstanding > 0);
    in->outstanding--;
    in->answered++;
    assert(ingest_ok_locked(in));
    enum ingest_result result = t->result;
    pthread_mutex_unlock(&in->lock);
    return result;
}

/* ---- drain ---- */

size_t ingest_outstanding(struct ingest *in)
{
    pthread_mutex_lock(&in->lock);
    size_t n = in->outstanding;
    pthread_mutex_unlock(&in->lock);
    return n;
}

void ingest_drain(struct ingest *in, ingest_step_fn step, void *adapter)
{
    while (ingest_outstanding(in) > 0)
        step(adapter, DRAIN_STEP_MS);
}
