/*
 * registry.h - the device registry: every device the gateway knows by name, of every
 * transport, with its settings (device_settings.h: its OS2iot mapping, labels, location),
 * and for the LoRaWAN devices of the edge network server (ABP and OTAA) their keys, the
 * DevNonces each has used, and its queue of downlinks. It lives in the journal database
 * (tables made by store/schema.c, schema 3 and 7) behind a connection of its own.
 *
 * Devices. A device is a row of `devices`, its activation one of:
 *   - abp, otaa: the edge network server activates it (keys, DevAddr, counters);
 *   - none: a device the edge network server does not activate (a CoAP sensor, a device
 *     fed by a LoRaWAN network server's MQTT feed): a DevEUI with a name and settings,
 *     no keys and no session. It exists so that settings have a device to belong to.
 * A device that is not in the registry at all still has its frames taken by CoAP and the
 * LNS feed (the ingests do not ask the registry); only LoRaWAN frames of the edge network
 * server need a registered device.
 *
 * Settings. Typed keys (device_settings.h), stored as rows of device_settings (`name` in
 * the devices row itself). registry_change_settings checks each value with
 * device_setting_check and the device's settings together (os2iot.key belongs to
 * os2iot.cert; os2iot.topic's last level is os2iot.id), and keeps the derived keys
 * (os2iot.cert_not_after) in step, all in one transaction. The daemon reads them with
 * registry_get_setting / registry_list_settings / registry_list_devices_with, and polls
 * registry_settings_generation, one integer that every change of a device or a setting
 * raises (triggers of schema 7, so sensorbroctl's changes count as the daemon's would).
 *
 * Who calls what:
 *   - the daemon: the Semtech UDP adapter's thread owns one struct registry, through the
 *     edge network server (lorawan/edge_ns.h); an output reading settings opens its own;
 *   - sensorbroctl: `device add|list|show|set|unset|remove|downlink` and `os2iot
 *     export|import`, in its own process, while the daemon runs (SQLite WAL; writes wait up
 *     to busy_timeout_ms for the other writers).
 * A struct registry is one SQLite connection: use it from one thread at a time.
 *
 * Secrets: keys (NwkSKey, AppSKey, AppKey) and secret settings (os2iot.key,
 * os2iot.password, os2iot.api_key) are read and written here only. No function logs, and
 * no error message contains, a secret: registry_mask_key() and device_setting_display()
 * are the only ways to show one. The database file is 0600 (store/schema.c).
 *
 * Frame counters. Losing the last uplink FCnt at a restart would let anyone replay a frame
 * recorded off the air. Writing it on every frame would cost a second commit per frame.
 * So the daemon keeps the counter in memory and writes it lazily (registry_set_fcnt_up:
 * every few seconds, at stop, and at once for an accepted frame that is not journaled); and
 * when it first meets a device after a start it takes the larger of the registry's value
 * and the highest fcnt of that device's rows in the frames and quarantine tables that
 * belong to the current session (registry_recover_fcnt_up). Every journaled frame is
 * committed before its PUSH_ACK and before anything else is done with it, so the journal
 * is never behind what was accepted; every accepted frame that is not journaled writes the
 * registry first. Either way a replay after a restart meets a counter at least as high as
 * the last accepted one. Rows of an earlier session (before a re-join, or before the device
 * was removed and added again) do not count: their ids are at most the device's
 * session_frame_id / session_quarantine_id, the tables' high-water marks when the session
 * began. Trimmed rows do not matter: the lazy write has long caught up with them.
 *
 * Transactions: every writing function commits by itself, unless the caller opened a
 * transaction with registry_begin: then it runs inside it (a savepoint) and nothing is
 * written until registry_commit (sensorbroctl os2iot import: all rows or none).
 *
 * Errors: functions return 0 or -1; on -1 the reason (never a secret) is in
 * registry_errmsg(). Rows read back are untrusted: a key that is not 16 bytes, an EUI that
 * is not 16 hex digits, a counter out of range or a setting that is not text of its bounds
 * makes the read fail with "damaged row".
 */
#ifndef SENSORBRO_REGISTRY_H
#define SENSORBRO_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "device_settings.h"
#include "frame.h"

#define REGISTRY_KEY_SIZE     16
#define REGISTRY_NAME_SIZE    64
#define REGISTRY_ERROR_SIZE   256
#define REGISTRY_MASKED_SIZE  40 /* "2b…3c (16 bytes)" */
#define REGISTRY_DOWNLINK_MAX 51 /* fits FRMPayload at every EU868 data rate (DR0: 51) */

enum registry_activation {
    REGISTRY_ABP = 0,
    REGISTRY_OTAA = 1,
    REGISTRY_NONE = 2, /* not activated by the edge network server: no keys, no session */
};

struct registry_device {
    char dev_eui[FRAME_DEVICE_ID_SIZE]; /* lower-case hex */
    char name[REGISTRY_NAME_SIZE];      /* the setting `name`, "" when none */
    enum registry_activation activation;
    /* The session: always for ABP, after a join for OTAA. */
    bool has_session;
    uint32_t dev_addr;
    uint8_t nwk_s_key[REGISTRY_KEY_SIZE];
    uint8_t app_s_key[REGISTRY_KEY_SIZE];
    /* OTAA only */
    uint64_t join_eui;
    uint8_t app_key[REGISTRY_KEY_SIZE];
    uint32_t app_nonce; /* the last AppNonce given out (24 bits), 0 before the first */
    /* Counters of the session */
    bool has_fcnt_up;   /* false before the session's first frame */
    uint32_t fcnt_up;   /* last accepted uplink counter, as written (see above) */
    uint32_t fcnt_down; /* the counter of the next downlink */
    int64_t created_ms;
    int64_t session_frame_id;      /* frames.id high-water mark at session start */
    int64_t session_quarantine_id; /* quarantine.id high-water mark at session start */
};

struct registry_downlink {
    int64_t id;
    char dev_eui[FRAME_DEVICE_ID_SIZE];
    uint8_t fport; /* 1..223 */
    bool confirmed;
    size_t payload_len;
    uint8_t payload[REGISTRY_DOWNLINK_MAX];
    int64_t created_ms;
};

struct registry;

/* Opens the registry at path (the journal database). read_only: for list and show. A
 * writable open creates and migrates the database (mode 0600) when needed. */
int registry_open(struct registry **out, const char *path, bool read_only, uint32_t busy_timeout_ms,
                  char *err, size_t err_size);
void registry_close(struct registry *r);
const char *registry_errmsg(const struct registry *r);

/* "2b…3c": the first and last 2 hex digits of a key; all a human ever sees of it. */
void registry_mask_key(const uint8_t key[REGISTRY_KEY_SIZE], char out[REGISTRY_MASKED_SIZE]);

/* Adds a device. dev's counters, created_ms and session marks are set here (counters from
 * zero, the session beginning now); a REGISTRY_NONE device's keys and DevAddr are not
 * stored. Refused (-1) when its DevEUI exists (*exists true) or an ABP DevAddr is taken by
 * another device (*exists false, errmsg says so). */
int registry_add(struct registry *r, const struct registry_device *dev, bool *exists);
/* Removes a device with its nonces, downlinks and settings. *found false when there was
 * none. */
int registry_remove(struct registry *r, const char *dev_eui, bool *found);
/* Reads one device by DevEUI, or by its session's DevAddr. *found false when none. */
int registry_get(struct registry *r, const char *dev_eui, struct registry_device *out, bool *found);
int registry_find_by_dev_addr(struct registry *r, uint32_t dev_addr, struct registry_device *out,
                              bool *found);
/* Calls fn for every device, in DevEUI order; fn returns false to stop. */
typedef bool (*registry_each_fn)(void *ctx, const struct registry_device *dev);
int registry_list(struct registry *r, registry_each_fn fn, void *ctx);

/* The last accepted uplink counter of the device's session after a restart: the largest of
 * the registry's and of the fcnt of its journaled rows of this session (see above). */
int registry_recover_fcnt_up(struct registry *r, const struct registry_device *dev, bool *has_fcnt,
                             uint32_t *fcnt);
/* Writes the last accepted uplink counter; never lowers the stored one. */
int registry_set_fcnt_up(struct registry *r, const char *dev_eui, uint32_t fcnt);
/* Takes the next downlink counter: returns the stored value in *fcnt_down and stores it + 1,
 * committed before it returns (a counter used on air is never used again). */
int registry_take_fcnt_down(struct registry *r, const char *dev_eui, uint32_t *fcnt_down);

/* OTAA: records a Join-Request's DevNonce. *fresh false when the device has used it before
 * (a replayed Join-Request); then nothing changes. */
int registry_use_dev_nonce(struct registry *r, const char *dev_eui, uint16_t dev_nonce,
                           bool *fresh);
/* OTAA: the next AppNonce (24 bits) of the device, committed before it returns. -1 when
 * they are used up (2^24 joins). */
int registry_next_app_nonce(struct registry *r, const char *dev_eui, uint32_t *app_nonce);
/* OTAA: whether a DevAddr is in use by any device's session. */
int registry_dev_addr_taken(struct registry *r, uint32_t dev_addr, bool *taken);
/* OTAA: stores the session a join made: DevAddr, keys, FCnt up unknown, FCnt down 0, the
 * session marks now. Refused when the DevAddr is taken (unique index). */
int registry_start_session(struct registry *r, const char *dev_eui, uint32_t dev_addr,
                           const uint8_t nwk_s_key[REGISTRY_KEY_SIZE],
                           const uint8_t app_s_key[REGISTRY_KEY_SIZE]);

/* ---- transactions (see above) ---- */

/* Opens a write transaction (BEGIN IMMEDIATE): the writing calls that follow run inside it
 * and nothing is written until registry_commit. */
int registry_begin(struct registry *r);
int registry_commit(struct registry *r);
/* Undoes everything since registry_begin; harmless when no transaction is open. */
void registry_rollback(struct registry *r);

/* ---- settings (device_settings.h) ---- */

/* One change of a setting: value NULL removes the key. */
struct registry_change {
    const char *key;
    const char *value;
    size_t len; /* of value, in bytes */
};

/* Changes settings of one device, in one transaction: first, when clear_prefix is not
 * NULL, every setting whose key begins with it is removed ("os2iot.": the device's whole
 * OS2iot mapping is replaced); then each change in order. Each value must pass
 * device_setting_check (a DERIVED key is refused); then the device's settings are checked
 * together: os2iot.key must belong to the first certificate of os2iot.cert, and
 * os2iot.topic's last level must be os2iot.id, when both of a pair are set.
 * os2iot.cert_not_after is written from os2iot.cert (removed with it). On -1 nothing
 * changed and errmsg names the key and what was expected. *found false (and 0) when the
 * device does not exist. */
int registry_change_settings(struct registry *r, const char *dev_eui, const char *clear_prefix,
                             const struct registry_change *changes, size_t n, bool *found);

/* The value of one setting (NUL-terminated into out; *len without the NUL). *found false
 * when the device has no such setting, or does not exist. -1 when out_size is too small
 * (the message says how many bytes the value has) or the row is damaged. A secret's value
 * is returned as it is: the caller keeps it out of logs and cleanses its buffer. */
int registry_get_setting(struct registry *r, const char *dev_eui, const char *key, char *out,
                         size_t out_size, size_t *len, bool *found);

/* Calls fn for each setting of a device whose key begins with prefix ("" for all; `name`
 * is not among them: it is in struct registry_device), in key order; fn returns false to
 * stop. def is the key's row, NULL for a key this build does not know (written by a newer
 * sensorbroctl): treat such a value as a secret. value is NUL-terminated. */
typedef bool (*registry_setting_fn)(void *ctx, const char *key,
                                    const struct device_setting_def *def, const char *value,
                                    size_t len);
int registry_list_settings(struct registry *r, const char *dev_eui, const char *prefix,
                           registry_setting_fn fn, void *ctx);

/* Calls fn with the DevEUI of every device that has a setting whose key begins with prefix
 * ("os2iot."), in DevEUI order, each once; fn returns false to stop. */
typedef bool (*registry_eui_fn)(void *ctx, const char *dev_eui);
int registry_list_devices_with(struct registry *r, const char *prefix, registry_eui_fn fn,
                               void *ctx);

/* A number that grows with every change of the registry's devices and settings: a device
 * added or removed, renamed, a setting set or removed, by this process or another (a
 * trigger counts it in the same transaction). Not raised by frame counters, sessions,
 * nonces or downlinks. One indexed read: cheap enough to poll every second. */
int registry_settings_generation(struct registry *r, int64_t *generation);

/* Downlink queue. Queueing checks fport (1..223) and the length (REGISTRY_DOWNLINK_MAX). */
int registry_queue_downlink(struct registry *r, const char *dev_eui, uint8_t fport,
                            const uint8_t *payload, size_t len, bool confirmed, int64_t *id);
/* The oldest queued (unsent) downlink of a device. *found false when none. */
int registry_next_downlink(struct registry *r, const char *dev_eui, struct registry_downlink *out,
                           bool *found);
int registry_mark_downlink_sent(struct registry *r, int64_t id, int64_t sent_ms);
/* Number of queued downlinks of a device. */
int registry_count_downlinks(struct registry *r, const char *dev_eui, int64_t *queued);

#endif
