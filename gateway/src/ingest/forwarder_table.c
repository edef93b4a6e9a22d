/*
 * forwarder_table.c - the bounded, ageing, pinning table of packet forwarders
 * (forwarder_table.h).
 */
#include "ingest/forwarder_table.h"

#include <stdio.h>
#include <string.h>

static void forget(struct forwarder_table *t, int slot, enum forwarder_gone why)
{
    struct forwarder_slot *s = &t->slots[slot];
    _Static_assert(sizeof(t->forgotten[0].eui) == sizeof(s->info.eui), "same size");
    memcpy(t->forgotten[t->forgotten_next].eui, s->info.eui, sizeof(s->info.eui));
    t->forgotten[t->forgotten_next].why = why;
    t->forgotten_next = (t->forgotten_next + 1) % FORWARDER_FORGOTTEN;
    memset(s, 0, sizeof(*s));
}

static void fill_slot(struct forwarder_slot *s, const char *eui, int64_t now_ms)
{
    memset(s, 0, sizeof(*s));
    s->used = true;
    snprintf(s->info.eui, sizeof(s->info.eui), "%s", eui);
    s->heard_ms = now_ms;
}

void forwarder_table_init(struct forwarder_table *t, int64_t timeout_ms, bool pin,
                          const struct eui_host *pins, size_t n_pins)
{
    memset(t, 0, sizeof(*t));
    t->timeout_ms = timeout_ms;
    t->pin = pin;
    for (size_t i = 0; i < n_pins && i < SEMTECH_UDP_MAX_FORWARDERS; i++) {
        struct forwarder_slot *s = &t->slots[i];
        fill_slot(s, pins[i].eui, 0);
        s->info.pin = FORWARDER_PINNED_BY_CONFIG;
        snprintf(s->info.pinned_host, sizeof(s->info.pinned_host), "%s", pins[i].host);
    }
}

int forwarder_table_find(const struct forwarder_table *t, const char *eui)
{
    for (int i = 0; i < SEMTECH_UDP_MAX_FORWARDERS; i++) {
        if (t->slots[i].used && strcmp(t->slots[i].info.eui, eui) == 0)
            return i;
    }
    return -1;
}

int forwarder_table_heard(struct forwarder_table *t, const char *eui, const char *host,
                          int64_t now_ms, bool *evicted)
{
    *evicted = false;
    int slot = forwarder_table_find(t, eui);
    if (slot >= 0) {
        struct forwarder_slot *s = &t->slots[slot];
        if (s->info.pin == FORWARDER_UNPINNED || strcmp(s->info.pinned_host, host) == 0)
            s->heard_ms = now_ms;
        return slot;
    }
    int free_slot = -1, stalest = -1;
    for (int i = 0; i < SEMTECH_UDP_MAX_FORWARDERS; i++) {
        const struct forwarder_slot *s = &t->slots[i];
        if (!s->used) {
            free_slot = i;
            break;
        }
        if (s->info.pin == FORWARDER_UNPINNED &&
            (stalest < 0 || s->heard_ms < t->slots[stalest].heard_ms))
            stalest = i;
    }
    if (free_slot < 0 && stalest < 0) {
        t->refused_full++;
        return -1;
    }
    if (free_slot < 0) {
        forget(t, stalest, FORWARDER_EVICTED);
        t->evicted++;
        *evicted = true;
        free_slot = stalest;
    }
    fill_slot(&t->slots[free_slot], eui, now_ms);
    return free_slot;
}

int forwarder_table_expire_one(struct forwarder_table *t, int64_t now_ms)
{
    for (int i = 0; i < SEMTECH_UDP_MAX_FORWARDERS; i++) {
        const struct forwarder_slot *s = &t->slots[i];
        if (s->used && s->info.pin != FORWARDER_PINNED_BY_CONFIG &&
            now_ms - s->heard_ms >= t->timeout_ms) {
            forget(t, i, FORWARDER_AGED_OUT);
            t->aged_out++;
            return i;
        }
    }
    return -1;
}

bool forwarder_table_pull(struct forwarder_table *t, int slot, const char *host,
                          const struct sockaddr *sa, socklen_t len, int64_t now_ms)
{
    struct forwarder_slot *s = &t->slots[slot];
    s->info.pull_data++;
    if (s->info.pin != FORWARDER_UNPINNED && strcmp(s->info.pinned_host, host) != 0) {
        s->info.pull_refused++;
        t->pull_refused++;
        return false;
    }
    if (len > sizeof(s->down))
        len = sizeof(s->down);
    memcpy(&s->down, sa, len);
    s->down_len = len;
    s->pulled_ms = now_ms;
    return true;
}

/* Forgets a downlink path that does not lead to the pinned host. */
static void drop_foreign_path(struct forwarder_slot *s)
{
    char path_host[FRAME_SOURCE_SIZE];
    snprintf(path_host, sizeof(path_host), "%s", s->info.downlink);
    /* downlink is "host:port" or "[v6]:port" */
    char *colon = strrchr(path_host, ':');
    if (colon)
        *colon = '\0';
    const char *h = path_host;
    size_t n = strlen(h);
    if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
        path_host[n - 1] = '\0';
        h = path_host + 1;
    }
    if (s->down_len != 0 && strcmp(h, s->info.pinned_host) != 0) {
        s->down_len = 0;
        s->info.downlink[0] = '\0';
    }
}

enum forwarder_auth forwarder_table_authenticated(struct forwarder_table *t, int slot,
                                                  const char *host, int64_t now_ms)
{
    struct forwarder_slot *s = &t->slots[slot];
    if (s->info.pin != FORWARDER_UNPINNED && strcmp(s->info.pinned_host, host) == 0)
        return FORWARDER_AUTH_SAME;
    enum forwarder_auth result = FORWARDER_AUTH_NEW;
    if (s->info.pin != FORWARDER_UNPINNED) {
        if (t->pin || s->info.pin == FORWARDER_PINNED_BY_CONFIG)
            return FORWARDER_AUTH_KEPT;
        s->info.pin_changes++;
        t->pin_changes++;
        result = FORWARDER_AUTH_MOVED;
    }
    s->info.pin = FORWARDER_PINNED_BY_TRAFFIC;
    snprintf(s->info.pinned_host, sizeof(s->info.pinned_host), "%s", host);
    s->heard_ms = now_ms;
    drop_foreign_path(s);
    return result;
}

enum forwarder_path_state forwarder_table_path(const struct forwarder_table *t, const char *eui,
                                               int64_t now_ms, int *slot)
{
    *slot = forwarder_table_find(t, eui);
    if (*slot >= 0) {
        const struct forwarder_slot *s = &t->slots[*slot];
        if (s->down_len == 0)
            return FORWARDER_PATH_NEVER_PULLED;
        if (now_ms - s->pulled_ms >= t->timeout_ms)
            return FORWARDER_PATH_PULL_STALE;
        return FORWARDER_PATH_OK;
    }
    /* the most recent removal of eui says why it is gone */
    for (size_t k = 1; k <= FORWARDER_FORGOTTEN; k++) {
        size_t i = (t->forgotten_next + FORWARDER_FORGOTTEN - k) % FORWARDER_FORGOTTEN;
        if (strcmp(t->forgotten[i].eui, eui) == 0)
            return t->forgotten[i].why == FORWARDER_AGED_OUT ? FORWARDER_PATH_AGED_OUT
                                                             : FORWARDER_PATH_EVICTED;
    }
    return FORWARDER_PATH_UNKNOWN;
}

const char *forwarder_path_state_text(enum forwarder_path_state s)
{
    switch (s) {
    case FORWARDER_PATH_OK:
        return "ok";
    case FORWARDER_PATH_NEVER_PULLED:
        return "no PULL_DATA accepted from it yet (from its pinned host, when pinned)";
    case FORWARDER_PATH_PULL_STALE:
        return "its PULL_DATA stopped (last one older than semtech_udp.forwarder_timeout_s)";
    case FORWARDER_PATH_AGED_OUT:
        return "aged out of the forwarder table (unheard for semtech_udp.forwarder_timeout_s)";
    case FORWARDER_PATH_EVICTED:
        return "evicted from the full forwarder table by a newer forwarder";
    case FORWARDER_PATH_UNKNOWN:
        return "not in the forwarder table (full of pinned forwarders)";
    }
    return "?";
}
