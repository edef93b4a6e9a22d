/*
 * fw_checks.h - the firmware fuzz targets' common invariant: what downlink_parse
 * (firmware/core/downlink.c) accepts is a configuration within the bounds the node enforces
 * (config.h, downlink.h), and survives being stored and read back as the node does it.
 */
#ifndef SENSORBRO_FUZZ_FW_CHECKS_H
#define SENSORBRO_FUZZ_FW_CHECKS_H

#include <stddef.h>
#include <stdint.h>

#include "downlink.h"

/* Parses buf as a Downlink over current and checks every invariant: on a refusal, next and
 * the clock are left alone and the status has a name; on success, the bounds, the stored
 * form (downlink_encode_config then downlink_parse over the defaults, as node.c reads NVM
 * at boot) and that applying the same Downlink again changes nothing. Returns the status,
 * with *next filled on DOWNLINK_OK. */
enum downlink_status fw_check_downlink(const uint8_t *buf, size_t len,
                                       const struct node_config *current, struct node_config *next);

#endif
