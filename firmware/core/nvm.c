/*
 * nvm.c - records, pages and compaction (nvm.h).
 *
 * Page:   [header 16 B][record][record]...[0xFF ... free]
 * Header: magic "SBNV" (u32 LE), epoch (u32 LE), CRC-32 of those 8 bytes, 4 bytes 0xFF.
 * Record: 0xA5, type (u8), payload length (u16 LE), CRC-32 of type, length and payload
 *         (u32 LE), the payload, 0xFF padding to a multiple of 8 bytes.
 *
 * Scanning a page stops at the first 8 bytes that are all 0xFF (free space) or at the
 * first record that fails its checks: a record cut short by a power loss can only be the
 * last one written. Nothing is ever written after a damaged record: the next write compacts
 * into a fresh page instead, so a half-programmed area is never programmed twice.
 *
 * Every program is a multiple of 8 bytes at a multiple of 8, the coarsest flash write unit
 * among the boards we target; records and headers are laid out for it.
 */
#include "nvm.h"

#include <string.h>

#include "board.h"
#include "crc32.h"

#define PAGE_MAGIC          0x564E4253u /* "SBNV" */
#define PAGE_HEADER_BYTES   16u
#define RECORD_MAGIC        0xA5u
#define RECORD_HEADER_BYTES 8u
#define PROGRAM_UNIT        8u

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t round_up(uint32_t n)
{
    return (n + PROGRAM_UNIT - 1) & ~(PROGRAM_UNIT - 1);
}

static bool all_erased(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (p[i] != BOARD_NVM_ERASED_BYTE)
            return false;
    }
    return true;
}

static uint32_t page_base(const struct nvm *n, uint32_t page)
{
    return page * n->page_size;
}

/* The epoch of a page with a valid header, or false. */
static bool read_page_header(const struct nvm *n, uint32_t page, uint32_t *epoch, bool *blank)
{
    uint8_t h[PAGE_HEADER_BYTES];
    *blank = false;
    if (!board_nvm_read(page_base(n, page), h, sizeof(h)))
        return false;
    if (all_erased(h, sizeof(h))) {
        *blank = true;
        return false;
    }
    if (get_u32(h) != PAGE_MAGIC || get_u32(h + 8) != crc32_update(CRC32_INIT, h, 8))
        return false;
    *epoch = get_u32(h + 4);
    return true;
}

/* Where and what a checked record is. */
struct record_info {
    uint8_t type;
    uint16_t len;
};

enum scan_result { SCAN_RECORD, SCAN_END, SCAN_DAMAGED };

/* Reads and checks the record at offset in the active page; its payload lands in payload,
 * which holds NVM_MAX_RECORD_BYTES (the CRC needs it read in full anyway). */
static enum scan_result check_record(struct nvm *n, uint32_t offset, struct record_info *info,
                                     uint8_t *payload)
{
    uint8_t h[RECORD_HEADER_BYTES];
    if (offset + RECORD_HEADER_BYTES > n->page_size)
        return SCAN_END;
    uint32_t base = page_base(n, n->active_page) + offset;
    if (!board_nvm_read(base, h, RECORD_HEADER_BYTES))
        return SCAN_DAMAGED;
    if (all_erased(h, RECORD_HEADER_BYTES))
        return SCAN_END;
    uint16_t len = (uint16_t)(h[2] | h[3] << 8);
    if (h[0] != RECORD_MAGIC || len > NVM_MAX_RECORD_BYTES ||
        offset + round_up(RECORD_HEADER_BYTES + len) > n->page_size ||
        !board_nvm_read(base + RECORD_HEADER_BYTES, payload, len))
        return SCAN_DAMAGED;
    /* The CRC covers type, length and payload. */
    if (crc32_update(crc32_update(CRC32_INIT, &h[1], 3), payload, len) != get_u32(&h[4]))
        return SCAN_DAMAGED;
    info->type = h[1];
    info->len = len;
    return SCAN_RECORD;
}

/* Walks the active page's records, remembering the newest of each type. */
static void scan_active_page(struct nvm *n)
{
    uint32_t offset = PAGE_HEADER_BYTES;
    n->config_offset = 0;
    n->seq_limit = 0;
    for (;;) {
        struct record_info info;
        uint8_t payload[NVM_MAX_RECORD_BYTES];
        enum scan_result r = check_record(n, offset, &info, payload);
        if (r == SCAN_END)
            break;
        if (r == SCAN_DAMAGED) {
            /* Most likely a record cut short by a power loss, which is why nothing follows
             * it: the records before it stand (a SEQ limit is written before it is used,
             * so a lost one was never relied on). */
            n->torn_records++;
            n->needs_compaction = true;
            break;
        }
        if (info.type == NVM_RECORD_CONFIG) {
            n->config_offset = offset;
        } else if (info.type == NVM_RECORD_SEQ && info.len == 4) {
            n->seq_limit = get_u32(payload);
        }
        /* Unknown types are skipped: a newer firmware may add some. */
        offset += round_up(RECORD_HEADER_BYTES + info.len);
    }
    n->write_offset = offset;
    if (offset + RECORD_HEADER_BYTES > n->page_size)
        n->needs_compaction = true;
}

/* Programs a record at *offset of page `page` (not necessarily the active one) in one
 * write, and advances *offset past it. */
static bool program_record(struct nvm *n, uint32_t page, uint32_t *offset, uint8_t type,
                           const uint8_t *payload, size_t len)
{
    uint8_t record[RECORD_HEADER_BYTES + NVM_MAX_RECORD_BYTES + PROGRAM_UNIT];
    uint32_t total = round_up(RECORD_HEADER_BYTES + (uint32_t)len);
    if (len > NVM_MAX_RECORD_BYTES || *offset + total > n->page_size)
        return false;
    memset(record, BOARD_NVM_ERASED_BYTE, total); /* the padding stays erased */
    record[0] = RECORD_MAGIC;
    record[1] = type;
    record[2] = (uint8_t)len;
    record[3] = (uint8_t)(len >> 8);
    memcpy(&record[RECORD_HEADER_BYTES], payload, len);
    put_u32(&record[4], crc32_update(crc32_update(CRC32_INIT, &record[1], 3), payload, len));
    if (!board_nvm_program(page_base(n, page) + *offset, record, total))
        return false;
    *offset += total;
    return true;
}

static bool program_page_header(struct nvm *n, uint32_t page, uint32_t epoch)
{
    uint8_t h[PAGE_HEADER_BYTES];
    memset(h, BOARD_NVM_ERASED_BYTE, sizeof(h));
    put_u32(h, PAGE_MAGIC);
    put_u32(h + 4, epoch);
    put_u32(h + 8, crc32_update(CRC32_INIT, h, 8));
    return board_nvm_program(page_base(n, page), h, sizeof(h));
}

/* Starts the next page with copies of the newest records (config from the active page, or
 * the one given) and makes it active. extra_type/extra payload: a record to write as well,
 * in place of the active page's record of that type. */
static bool compact(struct nvm *n, uint8_t extra_type, const uint8_t *extra, size_t extra_len)
{
    uint32_t target = (n->active_page + 1) % n->page_count;
    uint8_t stored[NVM_MAX_RECORD_BYTES];
    const uint8_t *config = extra;
    size_t config_len = extra_len;
    if (extra_type != NVM_RECORD_CONFIG) {
        config = stored;
        config_len = nvm_read_config(n, stored, sizeof(stored));
    }
    uint32_t seq_limit = n->seq_limit;
    if (extra_type == NVM_RECORD_SEQ)
        seq_limit = get_u32(extra);

    if (!board_nvm_erase_page(target))
        return false;
    uint32_t offset = PAGE_HEADER_BYTES, config_offset = 0;
    if (config_len > 0) {
        config_offset = offset;
        if (!program_record(n, target, &offset, NVM_RECORD_CONFIG, config, config_len))
            return false;
    }
    if (seq_limit != 0) {
        uint8_t v[4];
        put_u32(v, seq_limit);
        if (!program_record(n, target, &offset, NVM_RECORD_SEQ, v, sizeof(v)))
            return false;
    }
    /* The header last: until it is written the old page stays the valid one. */
    if (!program_page_header(n, target, n->epoch + 1))
        return false;
    n->active_page = target;
    n->epoch++;
    n->write_offset = offset;
    n->config_offset = config_offset;
    n->seq_limit = seq_limit;
    n->needs_compaction = offset + RECORD_HEADER_BYTES > n->page_size;
    return true;
}

bool nvm_open(struct nvm *n, enum nvm_state *state)
{
    memset(n, 0, sizeof(*n));
    n->page_size = board_nvm_page_size();
    n->page_count = board_nvm_page_count();
    bool found = false, all_blank = true;
    for (uint32_t page = 0; page < n->page_count; page++) {
        uint32_t epoch = 0;
        bool blank = false;
        if (read_page_header(n, page, &epoch, &blank)) {
            /* Wrap-safe: epochs grow by one per compaction and never lap 2^31. */
            if (!found || (int32_t)(epoch - n->epoch) > 0) {
                n->active_page = page;
                n->epoch = epoch;
            }
            found = true;
        }
        if (!blank) {
            /* A page that is not blank at its header may still be a page being compacted
             * when power failed; only when no page is valid is that corruption. */
            all_blank = false;
        }
    }
    if (found) {
        scan_active_page(n);
        *state = NVM_STATE_OK;
        return true;
    }
    n->damaged = !all_blank;
    *state = all_blank ? NVM_STATE_BLANK : NVM_STATE_CORRUPT;
    /* Format: compaction from the last page with nothing to copy (the memset above cleared
     * epoch, offsets and seq_limit) lands on page 0, epoch 1. */
    n->active_page = n->page_count - 1;
    n->epoch = 0;
    return compact(n, 0, NULL, 0);
}

size_t nvm_read_config(struct nvm *n, uint8_t *buf, size_t capacity)
{
    struct record_info info;
    uint8_t payload[NVM_MAX_RECORD_BYTES];
    if (n->config_offset == 0 || check_record(n, n->config_offset, &info, payload) != SCAN_RECORD ||
        info.len > capacity)
        return 0;
    memcpy(buf, payload, info.len);
    return info.len;
}

static bool append(struct nvm *n, uint8_t type, const uint8_t *payload, size_t len)
{
    if (!n->needs_compaction) {
        uint32_t offset = n->write_offset;
        if (program_record(n, n->active_page, &offset, type, payload, len)) {
            uint32_t at = n->write_offset;
            n->write_offset = offset;
            if (type == NVM_RECORD_CONFIG)
                n->config_offset = at;
            else
                n->seq_limit = get_u32(payload);
            n->needs_compaction = offset + RECORD_HEADER_BYTES > n->page_size;
            return true;
        }
        /* No room, or the write failed part-way: never write after it again. */
        n->needs_compaction = true;
    }
    return compact(n, type, payload, len);
}

bool nvm_write_config(struct nvm *n, const uint8_t *payload, size_t len)
{
    if (len == 0 || len > NVM_MAX_RECORD_BYTES)
        return false;
    return append(n, NVM_RECORD_CONFIG, payload, len);
}

bool nvm_write_seq_limit(struct nvm *n, uint32_t limit)
{
    uint8_t v[4];
    put_u32(v, limit);
    return append(n, NVM_RECORD_SEQ, v, sizeof(v));
}
