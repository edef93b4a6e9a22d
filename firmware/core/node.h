/*
 * node.h - the sensor node: samples on a fixed cadence, batches, sends through the modem,
 * applies downlinks, and keeps its state in NVM. This is the application; a port's main()
 * is only
 *
 *     static struct node node;            // static: a few KiB, not for the stack
 *     if (!node_init(&node)) halt();
 *     for (;;)
 *         board_sleep_until(node_poll(&node));
 *
 * Two state machines run side by side in node_poll():
 *
 * Sampling (never waits for the radio): every sample_interval_s a sample set is read and
 * offered to the filling batch (batch.h). A sealed batch moves to the send slot; if the slot
 * still holds an older batch that could not be sent, the older one is dropped (newest data
 * wins, counted in uplinks_dropped).
 *
 * Link (the modem, one AT command at a time, at_modem.h):
 *
 *   PROBE --OK--> QUERY_DR --+DR--> JOIN --OK--> JOIN_WAIT --+JOIN:OK--> READY <--+
 *     ^                                            |                       |       |
 *     +----- BACKOFF (2 s doubling to 5 min) <-----+-- fail/timeout        v       |
 *                                                                       SENDING --+
 *   READY starts a send when the slot holds a batch and its wait is over. A send's outcome:
 *   OK: done, and the data rate is read again (it may change after an uplink);
 *   ERROR:6 duty cycle: wait the +DUTY time, no attempt used; ERROR:5 too long: read the
 *   data rate again and shrink the batch; ERROR:3 not joined: join again; anything else
 *   or a timeout: retry after 5, 10 s; the third failure drops the batch.
 *
 * Uplinks carry the header of the moment they are sent: seq (assigned when sealed, reserved
 * in NVM in blocks), age_s, status flags, time when the clock is synced, config_version for
 * CONFIG_ECHO_UPLINKS uplinks after a change or a boot, and alert. Alerts go confirmed.
 *
 * The struct is owned by the port (one per node); nothing here allocates.
 */
#ifndef SB_NODE_H
#define SB_NODE_H

#include <stdbool.h>
#include <stdint.h>

#include "at_modem.h"
#include "batch.h"
#include "config.h"
#include "nvm.h"

/* LoRaWAN application port of Uplink and Downlink messages. */
#define NODE_LORAWAN_PORT 1

/* config_version rides in this many successful uplinks after a change or a boot. */
#define CONFIG_ECHO_UPLINKS 3

#ifndef CONFIG_LOW_BATTERY_MV
#define CONFIG_LOW_BATTERY_MV 3300 /* status flag 0x01 below this */
#endif

enum node_link {
    LINK_PROBE,
    LINK_QUERY_DR,
    LINK_JOIN,
    LINK_JOIN_WAIT,
    LINK_READY,
    LINK_SENDING,
    LINK_BACKOFF,
};

/* What happened since boot, for the log, the tests and a status line. */
struct node_counters {
    uint32_t uplinks_sent;
    uint32_t uplinks_dropped; /* sealed batches never sent */
    uint32_t sets_dropped;    /* sample sets that found no batch to go in */
    uint32_t sets_trimmed;    /* newest sets dropped to fit a late send */
    uint32_t ticks_missed;    /* sample ticks the node was too late for */
    uint32_t downlinks_applied;
    uint32_t downlinks_refused;
    uint32_t nvm_errors;
};

/* Small fields first: a Cortex-M0+ load reaches only the first 124 bytes of a struct with
 * an immediate offset, so the big buffers go last. */
struct node {
    /* Link. */
    enum node_link link;
    enum node_link after_backoff;
    uint32_t link_until_ms; /* BACKOFF and JOIN_WAIT deadline */
    uint32_t backoff_ms;
    bool joined;
    bool join_failed; /* +JOIN:FAIL came before the OK of AT+JOIN was handled */
    uint8_t dr;
    uint8_t send_failures;
    bool send_confirmed;
    uint32_t send_not_before_ms;
    size_t tx_len;
    uint32_t tx_status;         /* its status flags and config_version, to know what */
    uint32_t tx_config_version; /* the network has been told once it is sent */

    /* Sampling. */
    uint8_t filling;     /* index of the batch being filled; the other is the send slot */
    bool slot_full;      /* the send slot holds a sealed batch */
    bool filling_sealed; /* the filling batch is sealed and waits for the slot */
    bool low_battery;
    uint32_t next_sample_ms;
    const struct sensor_desc *sensors;
    size_t sensor_count;

    /* Header state. */
    uint32_t seq_next;
    uint32_t sticky_status; /* REBOOTED, NVM_RESET: until an uplink carried them */
    uint8_t config_echo_left;
    bool clock_synced;
    uint32_t clock_unix_s; /* unix time at clock_ms */
    uint32_t clock_ms;

    struct node_counters counters;
    uint8_t threshold_state[CONFIG_MAX_THRESHOLDS]; /* bit 0 above, bit 1 below */
    struct nvm nvm;
    struct node_config config;
    struct at_modem modem;
    struct batch batches[2];
    uint8_t tx[UPLINK_MAX_PAYLOAD_BYTES]; /* the uplink in flight, as encoded */
};

/* Reads NVM (falling back to defaults), sets up the batches for the board's sensors and
 * starts the link. Returns false only when the board's sensor table is unusable
 * (store_init) or NVM cannot be read or formatted at all. */
bool node_init(struct node *n);

/* Runs everything that is due and returns when to be called next (board_time_ms()
 * units); call earlier whenever the modem sent bytes. */
uint32_t node_poll(struct node *n);

/* The payload limit of an EU868 data rate; a data rate the node does not know gets the
 * smallest limit, which every data rate allows. */
size_t node_payload_limit(uint8_t dr);

#endif
