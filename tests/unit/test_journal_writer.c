/*
 * test_journal_writer.c - journal_writer.c: group commit from several threads at once,
 * callbacks only after commit, batching, back-pressure when the queue is full, delivery
 * marks (one output, and two outputs each at its own pace, kept across restarts), the sync
 * barrier, a stop that commits everything queued, and the status snapshot
 * (the newest one handed in wins, and the last one is written at stop).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/journal_writer.h"

#define THREADS           4
#define FRAMES_PER_THREAD 500

struct fixture {
    char dir[64];
    char path[96];
    _Atomic int committed_calls;
};

struct done_log {
    pthread_mutex_t lock;
    size_t count;
    int64_t ids[THREADS * FRAMES_PER_THREAD];
    int statuses[THREADS * FRAMES_PER_THREAD];
    char path[96]; /* to check durability from inside the callback */
    bool check_durable;
    size_t not_durable;
};

static struct done_log done_log;

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_writer.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/j.db", f->dir);
    memset(&done_log, 0, sizeof(done_log));
    pthread_mutex_init(&done_log.lock, NULL);
    snprintf(done_log.path, sizeof(done_log.path), "%s", f->path);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    pthread_mutex_destroy(&done_log.lock);
    free(f);
    return rc == 0 ? 0 : -1;
}

static const char *const one_output[] = {"mqtt"};

static struct journal_writer_options options(const struct fixture *f)
{
    struct journal_writer_options o = {
        .outputs = one_output,
        .n_outputs = 1,
        .path = f->path,
        .journal = {.synchronous = JOURNAL_SYNC_NORMAL, .busy_timeout_ms = 2000},
        .batch_max_rows = 64,
        .batch_max_ms = 2,
        .queue_frames = 256,
        .retention_ms = 3600 * 1000,
    };
    return o;
}

static void on_committed(void *ctx)
{
    struct fixture *f = ctx;
    atomic_fetch_add(&f->committed_calls, 1);
}

/* Counts pending frames through a separate connection: what another process would see. */
static int64_t pending_seen_from_outside(const char *path)
{
    struct journal *j;
    char err[256];
    struct journal_options ro = {.read_only = true, .busy_timeout_ms = 2000};
    if (journal_open(&j, path, &ro, err, sizeof(err)) != 0)
        return -1;
    struct journal_stats st;
    int rc = journal_stats(j, &st);
    journal_close(j);
    return rc == 0 ? st.pending_frames + st.published_frames : -1;
}

static void on_done(void *ctx, int status, int64_t id)
{
    (void)ctx;
    pthread_mutex_lock(&done_log.lock);
    size_t i = done_log.count++;
    done_log.ids[i] = id;
    done_log.statuses[i] = status;
    /* the promise: by the time a sender hears "done", another connection sees the row */
    if (done_log.check_durable && pending_seen_from_outside(done_log.path) < (int64_t)i + 1)
        done_log.not_durable++;
    pthread_mutex_unlock(&done_log.lock);
}

static struct frame_record record_for(int thread, int n)
{
    struct frame_record rec;
    memset(&rec, 0, sizeof(rec));
    snprintf(rec.device, sizeof(rec.device), "70b3d57ed00000%02x", thread);
    snprintf(rec.transport, sizeof(rec.transport), "coap");
    snprintf(rec.source, sizeof(rec.source), "thread-%d", thread);
    rec.received_ms = 1000 + n;
    rec.payload_len = 8;
    memcpy(rec.payload, &n, sizeof(n));
    return rec;
}

struct producer {
    struct journal_writer *w;
    int thread;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    for (int n = 0; n < FRAMES_PER_THREAD; n++) {
        struct frame_record rec = record_for(p->thread, n);
        /* back-pressure is allowed: retry after a moment, as a CoAP sender would */
        while (journal_writer_append(p->w, &rec, on_done, NULL) != 0)
            usleep(200);
    }
    return NULL;
}

static void test_concurrent_group_commit(void **state)
{
    struct fixture *f = *state;
    struct journal_writer *w;
    char err[256];
    struct journal_writer_options o = options(f);
    assert_int_equal(journal_writer_start(&w, &o, on_committed, f, err, sizeof(err)), 0);
    done_log.check_durable = true;

    pthread_t threads[THREADS];
    struct producer producers[THREADS];
    for (int t = 0; t < THREADS; t++) {
        producers[t] = (struct producer){w, t};
        assert_int_equal(pthread_create(&threads[t], NULL, produce, &producers[t]), 0);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(threads[t], NULL);
    assert_int_equal(journal_writer_sync(w), 0);

    struct journal_writer_stats st;
    journal_writer_get_stats(w, &st);
    journal_writer_stop(w);

    assert_int_equal(done_log.count, THREADS * FRAMES_PER_THREAD);
    assert_int_equal(done_log.not_durable, 0);
    for (size_t i = 0; i < done_log.count; i++) {
        assert_int_equal(done_log.statuses[i], 0);
        for (size_t k = 0; k < i; k++)
            assert_true(done_log.ids[k] != done_log.ids[i]);
    }
    assert_int_equal(st.frames_committed, THREADS * FRAMES_PER_THREAD);
    assert_int_equal(st.commit_failures, 0);
    /* group commit: many frames per transaction, however the threads interleaved */
    assert_true(st.transactions < st.frames_committed / 4);
    assert_true(atomic_load(&f->committed_calls) > 0);

    /* per producer, the journal holds its frames in the order it submitted them */
    struct journal *j;
    struct journal_options ro = {.read_only = true, .busy_timeout_ms = 2000};
    assert_int_equal(journal_open(&j, f->path, &ro, err, sizeof(err)), 0);
    static struct journal_frame frames[256];
    int next[THREADS] = {0};
    int64_t after = 0;
    size_t n, total = 0;
    do {
        assert_int_equal(journal_read_pending(j, after, frames, 256, &n), 0);
        for (size_t i = 0; i < n; i++) {
            int thread = frames[i].record.source[7] - '0', seq;
            memcpy(&seq, frames[i].record.payload, sizeof(seq));
            assert_int_equal(seq, next[thread]);
            next[thread]++;
            after = frames[i].id;
        }
        total += n;
    } while (n > 0);
    journal_close(j);
    assert_int_equal(total, THREADS * FRAMES_PER_THREAD);
}

/* With room for one frame in the queue and a writer lingering for more rows, the second
 * submit is refused: that is the back-pressure the CoAP adapter turns into 5.03. The linger
 * is long so that no scheduling delay lets the first frame commit early; the sync barrier
 * fills the two-row batch, so the test does not wait for it. */
static void test_queue_full(void **state)
{
    struct fixture *f = *state;
    struct journal_writer *w;
    char err[256];
    struct journal_writer_options o = options(f);
    o.queue_frames = 1;
    o.batch_max_rows = 2;
    o.batch_max_ms = 60000;
    assert_int_equal(journal_writer_start(&w, &o, NULL, NULL, err, sizeof(err)), 0);
    struct frame_record rec = record_for(0, 1);
    assert_int_equal(journal_writer_append(w, &rec, on_done, NULL), 0);
    assert_int_equal(journal_writer_append(w, &rec, on_done, NULL), -1);
    assert_int_equal(journal_writer_quarantine(w, &rec, "bad", on_done, NULL), -1);
    assert_int_equal(journal_writer_sync(w), 0);
    assert_int_equal(journal_writer_append(w, &rec, on_done, NULL), 0);
    journal_writer_stop(w);
    assert_int_equal(done_log.count, 2);
}

static void test_marks_and_stop_drains(void **state)
{
    struct fixture *f = *state;
    struct journal_writer *w;
    char err[256];
    struct journal_writer_options o = options(f);
    assert_int_equal(journal_writer_start(&w, &o, NULL, NULL, err, sizeof(err)), 0);
    struct frame_record rec = record_for(1, 1);
    for (int i = 0; i < 10; i++)
        assert_int_equal(journal_writer_append(w, &rec, on_done, NULL), 0);
    assert_int_equal(journal_writer_sync(w), 0);
    assert_int_equal(done_log.count, 10);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(journal_writer_mark_delivered(w, 0, rec.device, done_log.ids[i], 123), 0);
    assert_int_equal(journal_writer_move_to_quarantine(w, done_log.ids[5], "later"), 0);
    /* queued right before stop: stop still commits it */
    assert_int_equal(journal_writer_quarantine(w, &rec, "bad frame", on_done, NULL), 0);
    journal_writer_stop(w);
    assert_int_equal(done_log.count, 11);
    assert_int_equal(done_log.statuses[10], 0);

    struct journal *j;
    struct journal_options ro = {.read_only = true, .busy_timeout_ms = 2000};
    assert_int_equal(journal_open(&j, f->path, &ro, err, sizeof(err)), 0);
    struct journal_stats st;
    assert_int_equal(journal_stats(j, &st), 0);
    journal_close(j);
    assert_int_equal(st.published_frames, 5);
    assert_int_equal(st.pending_frames, 4);
    assert_int_equal(st.quarantined_frames, 2);
}

static struct journal_stats stats_from_outside(const char *path)
{
    struct journal *j;
    char err[256];
    struct journal_options ro = {.read_only = true, .busy_timeout_ms = 2000};
    assert_int_equal(journal_open(&j, path, &ro, err, sizeof(err)), 0);
    struct journal_stats st;
    assert_int_equal(journal_stats(j, &st), 0);
    journal_close(j);
    return st;
}

/* A delivery time now: the writer trims published frames older than retention_ms. */
static int64_t wall_ms(void)
{
    return (int64_t)time(NULL) * 1000;
}

static void count_progress_row(void *ctx, const char *output, const char *device, int64_t id)
{
    (void)output, (void)device, (void)id;
    (*(size_t *)ctx)++;
}

static size_t progress_rows(const char *path)
{
    struct journal *j;
    char err[256];
    struct journal_options ro = {.read_only = true, .busy_timeout_ms = 2000};
    assert_int_equal(journal_open(&j, path, &ro, err, sizeof(err)), 0);
    size_t n = 0;
    assert_int_equal(journal_read_progress(j, count_progress_row, &n), 0);
    journal_close(j);
    return n;
}

/* Two outputs, each at its own pace: a frame leaves the pending queue only once both have
 * marked it; each output's position per device is kept across a restart; an output taken
 * out of the configuration holds nothing back, and what it held is published when the
 * remaining output reads it again (JOURNAL_DELIVERED_ALL). */
static void test_two_outputs(void **state)
{
    struct fixture *f = *state;
    static const char *const two[] = {"mqtt", "other"};
    struct journal_writer_options o = options(f);
    o.outputs = two;
    o.n_outputs = 2;
    struct journal_writer *w;
    char err[256];
    assert_int_equal(journal_writer_start(&w, &o, NULL, NULL, err, sizeof(err)), 0);
    struct frame_record a = record_for(1, 1), b = record_for(2, 1);
    for (int i = 0; i < 4; i++)
        assert_int_equal(journal_writer_append(w, &a, on_done, NULL), 0);
    assert_int_equal(journal_writer_append(w, &b, on_done, NULL), 0);
    assert_int_equal(journal_writer_sync(w), 0);
    assert_int_equal(done_log.count, 5);
    const int64_t *ida = done_log.ids, idb = done_log.ids[4];

    /* output 0 delivers a's first three and b's: nothing is published yet */
    for (int i = 0; i < 3; i++)
        assert_int_equal(journal_writer_mark_delivered(w, 0, a.device, ida[i], wall_ms()), 0);
    assert_int_equal(journal_writer_mark_delivered(w, 0, b.device, idb, wall_ms()), 0);
    assert_int_equal(journal_writer_mark_delivered(w, 2, a.device, ida[0], wall_ms()), -1);
    assert_int_equal(journal_writer_sync(w), 0);
    struct journal_stats st = stats_from_outside(f->path);
    assert_int_equal(st.pending_frames, 5);
    assert_int_equal(st.published_frames, 0);
    assert_int_equal(progress_rows(f->path), 2);
    assert_int_equal(journal_writer_delivery(w, 0, a.device, ida[2]), JOURNAL_DELIVERED);
    assert_int_equal(journal_writer_delivery(w, 0, a.device, ida[3]), JOURNAL_UNDELIVERED);
    assert_int_equal(journal_writer_delivery(w, 1, a.device, ida[0]), JOURNAL_UNDELIVERED);

    /* output 1 delivers a's first two: they are published, the third waits for it */
    for (int i = 0; i < 2; i++)
        assert_int_equal(journal_writer_mark_delivered(w, 1, a.device, ida[i], wall_ms()), 0);
    assert_int_equal(journal_writer_sync(w), 0);
    st = stats_from_outside(f->path);
    assert_int_equal(st.published_frames, 2);
    assert_int_equal(st.pending_frames, 3);
    assert_int_equal(progress_rows(f->path), 3);
    struct journal_writer_stats ws;
    journal_writer_get_stats(w, &ws);
    assert_int_equal(ws.marks, 6);
    journal_writer_stop(w);

    /* the positions come back at the next start */
    assert_int_equal(journal_writer_start(&w, &o, NULL, NULL, err, sizeof(err)), 0);
    assert_int_equal(journal_writer_delivery(w, 0, a.device, ida[2]), JOURNAL_DELIVERED);
    assert_int_equal(journal_writer_delivery(w, 1, a.device, ida[2]), JOURNAL_UNDELIVERED);
    assert_int_equal(journal_writer_delivery(w, 0, b.device, idb), JOURNAL_DELIVERED);
    assert_int_equal(journal_writer_delivery(w, 1, b.device, idb), JOURNAL_UNDELIVERED);
    journal_writer_stop(w);

    /* "other" taken out: its rows go, and what "mqtt" delivered is published when it
     * reads those frames again and marks them */
    o = options(f);
    assert_int_equal(journal_writer_start(&w, &o, NULL, NULL, err, sizeof(err)), 0);
    assert_int_equal(progress_rows(f->path), 0);
    assert_int_equal(journal_writer_delivery(w, 0, a.device, ida[2]), JOURNAL_DELIVERED_ALL);
    assert_int_equal(journal_writer_delivery(w, 0, b.device, idb), JOURNAL_DELIVERED_ALL);
    assert_int_equal(journal_writer_delivery(w, 0, a.device, ida[3]), JOURNAL_UNDELIVERED);
    assert_int_equal(journal_writer_mark_delivered(w, 0, a.device, ida[2], wall_ms()), 0);
    assert_int_equal(journal_writer_mark_delivered(w, 0, b.device, idb, wall_ms()), 0);
    assert_int_equal(journal_writer_sync(w), 0);
    st = stats_from_outside(f->path);
    assert_int_equal(st.published_frames, 4);
    assert_int_equal(st.pending_frames, 1);
    assert_int_equal(progress_rows(f->path), 0); /* one output: published_ms is its progress */
    journal_writer_stop(w);
}

/* The outputs' names are checked at start; a writer without outputs takes no marks. */
static void test_output_names(void **state)
{
    struct fixture *f = *state;
    struct journal_writer *w;
    char err[256];
    struct journal_writer_options o = options(f);
    static const char *const twice[] = {"mqtt", "mqtt"};
    static const char *const empty[] = {""};
    static const char *const nine[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i"};
    o.outputs = twice;
    o.n_outputs = 2;
    assert_int_equal(journal_writer_start(&w, &o, NULL, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "\"mqtt\" configured twice"));
    o.outputs = empty;
    o.n_outputs = 1;
    assert_int_equal(journal_writer_start(&w, &o, NULL, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "1 to"));
    o.outputs = nine;
    o.n_outputs = 9;
    assert_int_equal(journal_writer_start(&w, &o, NULL, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "at most 8"));

    o.outputs = NULL;
    o.n_outputs = 0;
    assert_int_equal(journal_writer_start(&w, &o, NULL, NULL, err, sizeof(err)), 0);
    struct frame_record rec = record_for(1, 1);
    assert_int_equal(journal_writer_append(w, &rec, on_done, NULL), 0);
    assert_int_equal(journal_writer_sync(w), 0);
    assert_int_equal(journal_writer_mark_delivered(w, 0, rec.device, done_log.ids[0], 1), -1);
    journal_writer_stop(w);
}

static void test_start_errors(void **state)
{
    (void)state;
    struct journal_writer *w;
    char err[256];
    struct journal_writer_options o = {
        .path = "/nonexistent-dir/j.db", .batch_max_rows = 1, .queue_frames = 1};
    assert_int_equal(journal_writer_start(&w, &o, NULL, NULL, err, sizeof(err)), -1);
    assert_null(w);
    assert_non_null(strstr(err, "/nonexistent-dir/j.db"));
}

static void test_status_snapshot(void **state)
{
    struct fixture *f = *state;
    struct journal_writer_options o = options(f);
    struct journal_writer *w;
    char err[256];
    assert_int_equal(journal_writer_start(&w, &o, NULL, NULL, err, sizeof(err)), 0);
    static struct metrics m, back;
    metrics_clear(&m);
    metrics_add(&m, METRIC_COUNTER, "sensorbro_frames_committed_total", NULL, NULL, 1);
    journal_writer_save_status(w, &m);
    assert_int_equal(journal_writer_sync(w), 0);
    /* handed in just before the stop: still written, and it replaces the first */
    metrics_clear(&m);
    metrics_add(&m, METRIC_GAUGE, "sensorbro_up", NULL, NULL, 0);
    metrics_add(&m, METRIC_COUNTER, "sensorbro_frames_committed_total", NULL, NULL, 2);
    journal_writer_save_status(w, &m);
    journal_writer_stop(w);

    struct journal *j;
    struct journal_options ro = {.read_only = true, .busy_timeout_ms = 1000};
    assert_int_equal(journal_open(&j, f->path, &ro, err, sizeof(err)), 0);
    assert_int_equal(journal_read_status(j, &back), 0);
    journal_close(j);
    assert_int_equal(back.count, 2);
    assert_string_equal(back.items[0].name, "sensorbro_up");
    assert_true(back.items[1].value == 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_concurrent_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_marks_and_stop_drains, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_outputs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_output_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_snapshot, setup, teardown),
        cmocka_unit_test(test_start_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
