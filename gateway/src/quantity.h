/*
 * quantity.h - the table of measured quantities: wire field number, scale and JSON key.
 *
 * This is the one place that knows that Uplink field 4 is temperature in 0.01 degC and is
 * published as "temperature_c". decode.c uses it to validate Series.quantity, render.c to
 * name and scale values. docs/protocol.md lists the same table for readers; keep them equal.
 */
#ifndef SENSORBRO_QUANTITY_H
#define SENSORBRO_QUANTITY_H

#include <stddef.h>
#include <stdint.h>

struct quantity {
    uint32_t id;          /* Uplink field number (4-13) or extra quantity id (32 and up) */
    const char *name;     /* schema name: "temperature" */
    const char *json_key; /* published key, unit included: "temperature_c" */
    int32_t divisor;      /* published value = wire value / divisor */
    const char *unit;     /* for people: "degC" */
};

/* Returns the quantity with this id, or NULL for an id not in the table. */
const struct quantity *quantity_find(uint32_t id);
/* Returns the quantity whose json_key or schema name equals key, or NULL. */
const struct quantity *quantity_find_by_key(const char *key);
/* The whole table, in id order, for documentation and tools. */
const struct quantity *quantity_table(size_t *count);

#endif
