/*
 * node.c - the node's two state machines, sampling and link, and the glue between the
 * batches, the modem, NVM and downlinks (node.h).
 *
 * All times are board_time_ms() readings compared by difference (time_reached), so the
 * 49.7-day wrap of the millisecond clock is harmless: no deadline is ever more than a day
 * ahead, and no batch is older than two batch spans (CONFIG_BATCH_SPAN_MAX_S) when sent.
 */
#include "node.h"

#include <string.h>

#include "board.h"
#include "downlink.h"
#include "trace.h"

#define PROBE_TIMEOUT_MS   1000u
#define PROBE_ATTEMPTS     3u
#define JOIN_TIMEOUT_MS    2000u /* for the OK; the join itself is reported by +JOIN */
#define JOIN_WAIT_MS       30000u
#define SEND_TIMEOUT_MS    10000u /* 2.8 s on air at SF12, RX2 opens 2 s later, margin */
#define SEND_MAX_FAILURES  3u
#define SEND_RETRY_BASE_MS 5000u
#define BUSY_RETRY_MS      1000u
#define DUTY_MARGIN_MS     100u
#define BACKOFF_FIRST_MS   2000u
#define BACKOFF_MAX_MS     300000u
#define CLOCK_REBASE_MS    3600000u /* keeps clock_ms within an int32 of any sample time */

/* EU868 (RP002-1.0.x): the largest FRMPayload without FOpts, by data rate. */
static const uint8_t eu868_payload_limit[] = {51, 51, 51, 115, 242, 242, 242, 242};

_Static_assert(DOWNLINK_MAX_BYTES <= NVM_MAX_RECORD_BYTES,
               "every valid configuration fits one NVM record");
_Static_assert(UPLINK_MAX_PAYLOAD_BYTES == 242 && STORE_BYTES == UPLINK_MAX_PAYLOAD_BYTES,
               "the encode buffer and the sample pool hold the largest EU868 payload");

size_t node_payload_limit(uint8_t dr)
{
    if (dr >= sizeof(eu868_payload_limit))
        return eu868_payload_limit[0];
    return eu868_payload_limit[dr];
}

static bool time_reached(uint32_t now_ms, uint32_t deadline_ms)
{
    return (int32_t)(now_ms - deadline_ms) >= 0;
}

static void earliest(uint32_t *wake_ms, uint32_t candidate_ms)
{
    if ((int32_t)(candidate_ms - *wake_ms) < 0)
        *wake_ms = candidate_ms;
}

static struct batch *filling_batch(struct node *n)
{
    return &n->batches[n->filling];
}

static struct batch *slot_batch(struct node *n)
{
    return &n->batches[n->filling ^ 1u];
}

/* --- clock -------------------------------------------------------------------------- */

/* Unix seconds at board time ms (rounded), valid once the clock is synced. ms may lie
 * before the sync (a sample taken earlier): unsigned arithmetic on both sides. */
static uint32_t unix_at(const struct node *n, uint32_t ms)
{
    uint32_t after_ms = ms - n->clock_ms;
    if ((int32_t)after_ms >= 0)
        return n->clock_unix_s + (after_ms + 500u) / 1000u;
    return n->clock_unix_s - (n->clock_ms - ms + 499u) / 1000u;
}

static void clock_rebase(struct node *n, uint32_t now_ms)
{
    uint32_t elapsed = now_ms - n->clock_ms;
    if (n->clock_synced && elapsed >= CLOCK_REBASE_MS) {
        uint32_t seconds = elapsed / 1000u;
        n->clock_unix_s += seconds;
        n->clock_ms += seconds * 1000u;
    }
}

/* --- uplink headers ------------------------------------------------------------------- */

static uint32_t status_flags(const struct node *n, bool sensor_fault)
{
    uint32_t status = n->sticky_status;
    if (n->low_battery)
        status |= UPLINK_STATUS_LOW_BATTERY;
    if (sensor_fault)
        status |= UPLINK_STATUS_SENSOR_FAULT;
    if (!n->clock_synced)
        status |= UPLINK_STATUS_CLOCK_UNSYNCED;
    return status;
}

/* The header a batch gets when sent at now_ms (age and time from its newest set). */
static struct uplink_header header_for(const struct node *n, const struct batch *b, uint32_t seq,
                                       uint32_t now_ms, bool sensor_fault)
{
    struct uplink_header h = {
        .seq = seq,
        .interval_s = b->interval_s,
        /* Whole seconds, rounded down: sent within a second of its newest sample, an uplink
         * leaves age_s out and saves two bytes. */
        .age_s = b->sets > 0 ? (now_ms - b->last_sample_ms) / 1000u : 0,
        .status = status_flags(n, b->sensor_fault || sensor_fault),
        .time_s = n->clock_synced ? unix_at(n, b->sets > 0 ? b->last_sample_ms : now_ms) : 0,
        .config_version = n->config_echo_left > 0 ? n->config.config_version : 0,
        .alert = b->alert,
    };
    return h;
}

/* --- the send slot -------------------------------------------------------------------- */

static void drop_slot(struct node *n, const char *why)
{
    struct batch *b = slot_batch(n);
    n->counters.uplinks_dropped++;
    trace_str("uplink dropped seq=");
    trace_u32(b->seq);
    trace_str(" sets=");
    trace_u32(b->sets);
    trace_str(" why=");
    trace_str(why);
    trace_end();
    n->slot_full = false;
}

/* Gives the filling batch its seq (reserving a block in NVM first when needed) and moves it
 * to the empty send slot. */
static void move_filling_to_slot(struct node *n, uint32_t now_ms)
{
    if (n->seq_next >= n->nvm.seq_limit &&
        !nvm_write_seq_limit(&n->nvm, n->seq_next + NVM_SEQ_BLOCK)) {
        /* Sending matters more than the counter; a power loss before the next successful
         * reservation could reuse numbers, and the log says so. */
        n->counters.nvm_errors++;
        trace_str("nvm: cannot reserve seq");
        trace_end();
    }
    filling_batch(n)->seq = n->seq_next++;
    n->filling ^= 1u;
    n->slot_full = true;
    n->filling_sealed = false;
    n->send_failures = 0;
    n->send_not_before_ms = now_ms;
    batch_reset(filling_batch(n), n->config.sample_interval_s);
}

/* Ends the filling batch: to the send slot now, or when the send in flight is over. */
static void seal_filling(struct node *n, uint32_t now_ms)
{
    if (batch_is_empty(filling_batch(n)) || n->filling_sealed)
        return;
    if (n->slot_full) {
        if (n->link == LINK_SENDING) {
            n->filling_sealed = true;
            return;
        }
        drop_slot(n, "superseded");
    }
    move_filling_to_slot(n, now_ms);
}

/* --- sampling ------------------------------------------------------------------------- */

static int sensor_index(const struct node *n, uint8_t quantity)
{
    for (size_t i = 0; i < n->sensor_count; i++) {
        if (n->sensors[i].quantity == quantity && n->sensors[i].channel == 0)
            return (int)i;
    }
    return -1;
}

/* Edge-triggered: a threshold alerts when a sample goes beyond it, and is armed again when
 * a sample is back inside, so a room that stays too warm does not send an alert per sample. */
static bool check_thresholds(struct node *n, const struct sample_set *set)
{
    bool alert = false;
    for (uint8_t k = 0; k < n->config.threshold_count; k++) {
        const struct threshold *t = &n->config.thresholds[k];
        int i = sensor_index(n, t->field);
        if (i < 0 || !set->ok[i])
            continue;
        uint8_t state = 0;
        if (t->has_above && set->value[i] > t->above)
            state |= 1u;
        if (t->has_below && set->value[i] < t->below)
            state |= 2u;
        if ((state & ~n->threshold_state[k]) != 0)
            alert = true;
        n->threshold_state[k] = state;
    }
    return alert;
}

static void read_sensors(struct node *n, struct sample_set *set, uint32_t tick_ms)
{
    memset(set, 0, sizeof(*set));
    set->taken_ms = tick_ms;
    for (size_t i = 0; i < n->sensor_count; i++) {
        set->ok[i] = board_sensor_read(&n->sensors[i], &set->value[i]);
        if (set->ok[i] && n->sensors[i].quantity == QUANTITY_BATTERY && n->sensors[i].channel == 0)
            n->low_battery = set->value[i] < CONFIG_LOW_BATTERY_MV;
    }
    set->alert = check_thresholds(n, set);
}

static bool set_has_fault(const struct node *n, const struct sample_set *set)
{
    for (size_t i = 0; i < n->sensor_count; i++) {
        if (!set->ok[i])
            return true;
    }
    return false;
}

/* Offers a set to the filling batch, and to a fresh one when the batch refuses it. */
static void offer_set(struct node *n, const struct sample_set *set, uint32_t now_ms)
{
    for (int round = 0; round < 2; round++) {
        if (n->filling_sealed) {
            n->counters.sets_dropped++; /* the batch before waits for a send in flight */
            return;
        }
        struct batch *b = filling_batch(n);
        if (batch_is_empty(b))
            batch_reset(b, n->config.sample_interval_s);
        struct batch_limits limits = {
            .payload_limit = node_payload_limit(n->dr),
            .samples_per_uplink = n->config.samples_per_uplink,
            .header = header_for(n, b, n->seq_next, now_ms, set_has_fault(n, set)),
        };
        limits.header.age_s = (now_ms - set->taken_ms) / 1000u; /* were it sent now */
        switch (batch_offer(b, set, &limits)) {
        case BATCH_OPEN:
            return;
        case BATCH_FULL:
            seal_filling(n, now_ms);
            return;
        case BATCH_REFUSED:
            if (batch_is_empty(b)) {
                n->counters.sets_dropped++; /* does not fit even alone at this data rate */
                trace_str("sample set too large for dr=");
                trace_u32(n->dr);
                trace_end();
                return;
            }
            seal_filling(n, now_ms);
            break;
        }
    }
}

static void sample_tick(struct node *n, uint32_t now_ms)
{
    uint32_t interval_ms = n->config.sample_interval_s * 1000u;
    uint32_t tick_ms = n->next_sample_ms;
    uint32_t late_ms = now_ms - tick_ms;
    if (late_ms >= interval_ms) {
        /* Ticks were missed: the filling batch's time base ends here. */
        uint32_t missed = late_ms / interval_ms;
        n->counters.ticks_missed += missed;
        tick_ms += missed * interval_ms;
        seal_filling(n, now_ms);
    }
    n->next_sample_ms = tick_ms + interval_ms;
    struct sample_set set;
    read_sensors(n, &set, tick_ms);
    offer_set(n, &set, now_ms);
}

/* --- downlinks ------------------------------------------------------------------------ */

/* " version=V interval_s=I samples_per_uplink=S thresholds=T" for a log line. */
static void trace_config(const struct node_config *c)
{
    trace_str(" version=");
    trace_u32(c->config_version);
    trace_str(" interval_s=");
    trace_u32(c->sample_interval_s);
    trace_str(" samples_per_uplink=");
    trace_u32(c->samples_per_uplink);
    trace_str(" thresholds=");
    trace_u32(c->threshold_count);
}

static void apply_config(struct node *n, const struct node_config *next, uint32_t now_ms)
{
    bool new_interval = next->sample_interval_s != n->config.sample_interval_s;
    if (new_interval || filling_batch(n)->sets >= next->samples_per_uplink)
        seal_filling(n, now_ms); /* its time base, or its size, belongs to the old config */
    n->config = *next;
    memset(n->threshold_state, 0, sizeof(n->threshold_state));
    if (new_interval)
        n->next_sample_ms = now_ms + n->config.sample_interval_s * 1000u;
    n->config_echo_left = CONFIG_ECHO_UPLINKS;
}

static void handle_downlink(struct node *n, const struct at_line *line)
{
    uint32_t now_ms = board_time_ms();
    if (line->u.recv.port != NODE_LORAWAN_PORT) {
        trace_str("downlink ignored port=");
        trace_u32(line->u.recv.port);
        trace_end();
        return;
    }
    struct node_config next;
    uint32_t clock_sync_s = 0;
    enum downlink_status st =
        downlink_parse(line->u.recv.payload, line->u.recv.len, &n->config, &next, &clock_sync_s);
    if (st != DOWNLINK_OK) {
        n->counters.downlinks_refused++;
        trace_str("downlink refused: ");
        trace_str(downlink_status_name(st));
        trace_end();
        return;
    }
    /* Compared in stored form: a downlink that only syncs the clock writes nothing. */
    uint8_t record[DOWNLINK_MAX_BYTES], active[DOWNLINK_MAX_BYTES];
    size_t len = downlink_encode_config(&next, record, sizeof(record));
    size_t active_len = downlink_encode_config(&n->config, active, sizeof(active));
    bool same = len == active_len;
    for (size_t i = 0; same && i < len; i++)
        same = record[i] == active[i];
    if (!same) {
        /* Atomic: stored first, made active only once stored. */
        if (len == 0 || !nvm_write_config(&n->nvm, record, len)) {
            n->counters.nvm_errors++;
            n->counters.downlinks_refused++;
            trace_str("downlink not applied: nvm write failed");
            trace_end();
            return;
        }
        apply_config(n, &next, now_ms);
    }
    if (clock_sync_s != 0) {
        n->clock_synced = true;
        n->clock_unix_s = clock_sync_s;
        n->clock_ms = now_ms;
    }
    n->counters.downlinks_applied++;
    trace_str("downlink applied");
    trace_config(&n->config);
    trace_end();
}

static void backoff(struct node *n, enum node_link then, uint32_t now_ms)
{
    n->link = LINK_BACKOFF;
    n->after_backoff = then;
    n->link_until_ms = now_ms + n->backoff_ms;
    n->backoff_ms = n->backoff_ms >= BACKOFF_MAX_MS / 2 ? BACKOFF_MAX_MS : n->backoff_ms * 2u;
}

static void link_up(struct node *n)
{
    n->link = LINK_READY;
    n->backoff_ms = BACKOFF_FIRST_MS;
}

static void on_modem_line(void *ctx, const struct at_line *line)
{
    struct node *n = ctx;
    if (line->kind == AT_LINE_RECV) {
        handle_downlink(n, line);
    } else if (line->kind == AT_LINE_JOIN) {
        n->joined = line->u.joined;
        trace_str(line->u.joined ? "link joined" : "link join failed");
        trace_end();
        if (n->link == LINK_JOIN_WAIT) {
            if (n->joined)
                link_up(n);
            else
                backoff(n, LINK_JOIN, board_time_ms());
        } else if (n->link == LINK_JOIN && !n->joined) {
            /* The modem may put +JOIN:FAIL right behind the OK, before handle_result() saw
             * the OK; remembered so that the node backs off now, not after JOIN_WAIT_MS. */
            n->join_failed = true;
        }
    }
}

/* --- link ----------------------------------------------------------------------------- */

static void start_send(struct node *n, uint32_t now_ms)
{
    struct batch *b = slot_batch(n);
    struct uplink_header h = header_for(n, b, b->seq, now_ms, false);
    uint8_t sets = b->sets;
    size_t len = batch_fit_for_send(b, &h, node_payload_limit(n->dr));
    n->counters.sets_trimmed += (uint32_t)(sets - b->sets);
    if (len == 0 || uplink_encode(&h, &b->store, n->tx, sizeof(n->tx)) != len) {
        drop_slot(n, "does not fit");
        return;
    }
    n->tx_len = len;
    n->tx_status = h.status;
    n->tx_config_version = h.config_version;
    n->send_confirmed = h.alert;
    if (!at_modem_send(&n->modem, now_ms, NODE_LORAWAN_PORT, n->send_confirmed, n->tx, len,
                       SEND_TIMEOUT_MS, 1))
        return;
    n->link = LINK_SENDING;
}

static void send_succeeded(struct node *n)
{
    struct batch *b = slot_batch(n);
    n->counters.uplinks_sent++;
    trace_str("uplink seq=");
    trace_u32(b->seq);
    trace_str(" len=");
    trace_u32((uint32_t)n->tx_len);
    trace_str(" dr=");
    trace_u32(n->dr);
    trace_str(" hex=");
    trace_hex(n->tx, n->tx_len);
    trace_end();
    /* Flags and echoes that rode in this uplink have been told. */
    n->sticky_status &= ~n->tx_status;
    if (n->tx_config_version != 0 && n->tx_config_version == n->config.config_version &&
        n->config_echo_left > 0)
        n->config_echo_left--;
    n->slot_full = false;
}

/* A send that failed for a reason retrying may cure. */
static void send_failed(struct node *n, uint32_t now_ms)
{
    struct batch *b = slot_batch(n);
    n->send_failures++;
    trace_str("uplink failed seq=");
    trace_u32(b->seq);
    trace_str(" result=");
    trace_u32(n->modem.result);
    trace_str(" error=");
    trace_u32(n->modem.error_code);
    trace_end();
    if (n->send_failures >= SEND_MAX_FAILURES) {
        drop_slot(n, "send failed");
        n->link = LINK_PROBE; /* check the modem is still there */
        return;
    }
    n->send_not_before_ms = now_ms + (SEND_RETRY_BASE_MS << (n->send_failures - 1u));
    n->link = LINK_READY;
}

static void handle_send_result(struct node *n, uint32_t now_ms)
{
    const struct at_modem *m = &n->modem;
    n->link = LINK_READY;
    if (m->result == AT_RESULT_OK) {
        send_succeeded(n);
        n->link = LINK_QUERY_DR; /* the network may have changed it */
    } else if (m->result == AT_RESULT_ERROR && m->error_code == AT_ERROR_DUTY_CYCLE) {
        n->send_not_before_ms = now_ms + m->duty_wait_ms + DUTY_MARGIN_MS;
    } else if (m->result == AT_RESULT_ERROR && m->error_code == AT_ERROR_BUSY) {
        n->send_not_before_ms = now_ms + BUSY_RETRY_MS;
    } else if (m->result == AT_RESULT_ERROR && m->error_code == AT_ERROR_NOT_JOINED) {
        n->joined = false;
        n->link = LINK_JOIN;
    } else if (m->result == AT_RESULT_ERROR && m->error_code == AT_ERROR_TOO_LONG) {
        n->link = LINK_QUERY_DR; /* the next attempt shrinks the batch to the new limit */
    } else {
        send_failed(n, now_ms);
    }
    if (n->filling_sealed) {
        if (n->slot_full)
            drop_slot(n, "superseded");
        move_filling_to_slot(n, now_ms);
    }
}

/* Acts on the result of the command the current link state issued. */
static void handle_result(struct node *n, uint32_t now_ms)
{
    const struct at_modem *m = &n->modem;
    bool ok = m->result == AT_RESULT_OK;
    switch (n->link) {
    case LINK_PROBE:
        if (ok) {
            n->link = LINK_QUERY_DR;
        } else {
            trace_str("link: modem does not answer");
            trace_end();
            backoff(n, LINK_PROBE, now_ms);
        }
        break;
    case LINK_QUERY_DR:
        if (ok && m->have_dr) {
            if (m->dr != n->dr) {
                trace_str("link dr=");
                trace_u32(m->dr);
                trace_end();
            }
            n->dr = m->dr;
            if (n->joined)
                link_up(n);
            else
                n->link = LINK_JOIN;
        } else {
            backoff(n, LINK_PROBE, now_ms);
        }
        break;
    case LINK_JOIN:
        if (!ok || n->join_failed) {
            backoff(n, LINK_JOIN, now_ms);
        } else if (n->joined) {
            link_up(n); /* +JOIN:OK came before the OK */
        } else {
            n->link = LINK_JOIN_WAIT;
            n->link_until_ms = now_ms + JOIN_WAIT_MS;
        }
        break;
    case LINK_SENDING:
        handle_send_result(n, now_ms);
        break;
    case LINK_JOIN_WAIT:
    case LINK_READY:
    case LINK_BACKOFF:
        break; /* these states issue no command */
    }
}

static void link_step(struct node *n, uint32_t now_ms)
{
    if (n->modem.state == AT_DONE) {
        handle_result(n, now_ms);
        at_modem_finish(&n->modem);
    }
    if (n->modem.state != AT_IDLE)
        return;
    if (n->link == LINK_BACKOFF && time_reached(now_ms, n->link_until_ms))
        n->link = n->after_backoff;
    switch (n->link) {
    case LINK_PROBE:
        at_modem_start(&n->modem, now_ms, AT_CMD_PROBE, PROBE_TIMEOUT_MS, PROBE_ATTEMPTS);
        break;
    case LINK_QUERY_DR:
        at_modem_start(&n->modem, now_ms, AT_CMD_DR_QUERY, PROBE_TIMEOUT_MS, PROBE_ATTEMPTS);
        break;
    case LINK_JOIN:
        n->join_failed = false;
        at_modem_start(&n->modem, now_ms, AT_CMD_JOIN, JOIN_TIMEOUT_MS, 2);
        break;
    case LINK_JOIN_WAIT:
        if (time_reached(now_ms, n->link_until_ms)) {
            trace_str("link: no join result");
            trace_end();
            backoff(n, LINK_JOIN, now_ms);
        }
        break;
    case LINK_READY:
        if (n->slot_full && time_reached(now_ms, n->send_not_before_ms))
            start_send(n, now_ms);
        break;
    case LINK_SENDING:
    case LINK_BACKOFF:
        break;
    }
}

/* --- the loop ------------------------------------------------------------------------- */

static void load_config(struct node *n, enum nvm_state state)
{
    config_defaults(&n->config);
    if (state != NVM_STATE_OK)
        return;
    uint8_t record[NVM_MAX_RECORD_BYTES];
    size_t len = nvm_read_config(&n->nvm, record, sizeof(record));
    if (len == 0)
        return;
    struct node_config defaults = n->config, stored;
    uint32_t ignored_time;
    if (downlink_parse(record, len, &defaults, &stored, &ignored_time) == DOWNLINK_OK)
        n->config = stored;
    else
        n->nvm.damaged = true; /* a record that passed its CRC but not the bounds */
}

bool node_init(struct node *n)
{
    memset(n, 0, sizeof(*n));
    n->sensors = board_sensors(&n->sensor_count);
    for (int i = 0; i < 2; i++) {
        if (!batch_init(&n->batches[i], n->sensors, n->sensor_count))
            return false;
    }
    enum nvm_state state;
    if (!nvm_open(&n->nvm, &state))
        return false;
    load_config(n, state);
    n->seq_next = n->nvm.seq_limit;
    n->sticky_status = UPLINK_STATUS_REBOOTED | (n->nvm.damaged ? UPLINK_STATUS_NVM_RESET : 0);
    n->config_echo_left = n->config.config_version != 0 ? CONFIG_ECHO_UPLINKS : 0;
    at_modem_init(&n->modem, on_modem_line, n);
    n->backoff_ms = BACKOFF_FIRST_MS;
    n->link = LINK_PROBE;
    n->next_sample_ms = board_time_ms(); /* the first sample at once */

    trace_str("boot nvm=");
    trace_str(state == NVM_STATE_OK ? "ok" : state == NVM_STATE_BLANK ? "blank" : "corrupt");
    trace_str(n->nvm.damaged ? " damaged" : "");
    trace_str(" seq=");
    trace_u32(n->seq_next);
    trace_config(&n->config);
    trace_end();
    return true;
}

uint32_t node_poll(struct node *n)
{
    board_watchdog_kick();
    uint32_t now_ms = board_time_ms();
    clock_rebase(n, now_ms);
    at_modem_poll(&n->modem, now_ms);
    link_step(n, now_ms);
    if (time_reached(now_ms, n->next_sample_ms)) {
        sample_tick(n, now_ms);
        link_step(n, now_ms); /* a batch just sealed goes out at once */
    }

    uint32_t wake_ms = n->next_sample_ms, modem_ms;
    if (at_modem_wake_ms(&n->modem, &modem_ms))
        earliest(&wake_ms, modem_ms);
    if (n->link == LINK_BACKOFF || n->link == LINK_JOIN_WAIT)
        earliest(&wake_ms, n->link_until_ms);
    if (n->link == LINK_READY && n->slot_full)
        earliest(&wake_ms, n->send_not_before_ms);
    return wake_ms;
}
