/*
 * nvm.h - the node's persistent state in flash-like NVM: its configuration and its uplink
 * sequence counter, in CRC-checked records, with wear levelling across all pages.
 *
 * Layout (docs/firmware.md has the picture):
 * - the NVM area is board_nvm_page_count() pages of board_nvm_page_size() bytes;
 * - one page is active: the valid page header with the highest epoch. Records are appended
 *   to it; the newest valid record of each type wins;
 * - when the active page is full (or holds a damaged record), the next page in turn is
 *   erased, the newest record of each type is copied into it, and only then is its header
 *   written with epoch + 1. A power loss at any point leaves either the old page or the new
 *   one complete and active. Pages are used in turn, so they wear evenly.
 *
 * The sequence counter is not written per uplink. A SEQ record holds a limit: uplinks may
 * use sequence numbers below it. At boot the node continues at the limit, and it writes a
 * new limit (NVM_SEQ_BLOCK further) before it uses the old one. So the counter costs one
 * 16-byte record per NVM_SEQ_BLOCK uplinks, and after a power loss it never goes back (it
 * may skip up to NVM_SEQ_BLOCK - 1 numbers, which the gateway sees as a gap).
 *
 * Errors: functions return false when the board refused an erase or a write; the state in
 * NVM is then still the last complete one. Not reentrant; one struct nvm per NVM area.
 */
#ifndef SB_NVM_H
#define SB_NVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NVM_SEQ_BLOCK        32u
#define NVM_MAX_RECORD_BYTES 192u /* payload; a stored configuration must fit */

enum nvm_record_type {
    NVM_RECORD_SEQ = 1,    /* payload: uint32 little-endian sequence limit */
    NVM_RECORD_CONFIG = 2, /* payload: a Downlink message (downlink_encode_config) */
};

/* What nvm_open found. */
enum nvm_state {
    NVM_STATE_OK,      /* a valid page; records as found */
    NVM_STATE_BLANK,   /* never written: a new node */
    NVM_STATE_CORRUPT, /* data that fails its checks: treat everything as lost */
};

struct nvm {
    uint32_t page_size;
    uint32_t page_count;
    uint32_t active_page;
    uint32_t epoch;
    uint32_t write_offset; /* in the active page: where the next record goes */
    bool needs_compaction; /* the active page has no room or ends in a damaged record */
    bool damaged;          /* no valid page though the area was written: all was lost */
    uint32_t torn_records; /* records found cut short (power loss while writing) */
    /* The newest configuration record: its offset in the active page, 0 for none. It is
     * read back when needed; the newest SEQ record's value is kept instead. */
    uint32_t config_offset;
    uint32_t seq_limit;
};

/* Scans the NVM area. On NVM_STATE_OK, n->seq_limit and nvm_read_config() give what was
 * stored (seq_limit 0 and no config when none was); a record that fails its checks ends
 * the page's records (counted in torn_records). On BLANK or CORRUPT the area is formatted
 * afresh (first page, epoch 1, no records) and n->damaged tells CORRUPT. Returns false
 * only when the board refused to format. */
bool nvm_open(struct nvm *n, enum nvm_state *state);

/* Copies the newest configuration record into buf. Returns its length, 0 when there is none
 * or it does not fit capacity. */
size_t nvm_read_config(struct nvm *n, uint8_t *buf, size_t capacity);

bool nvm_write_config(struct nvm *n, const uint8_t *payload, size_t len);

/* Stores a new sequence limit. Callers only ever raise it. */
bool nvm_write_seq_limit(struct nvm *n, uint32_t limit);

#endif
