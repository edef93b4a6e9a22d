/*
 * device.h - `sensorbroctl device add|list|show|set|unset|remove|downlink`: the device
 * registry (gateway/src/lorawan/registry.h) from the command line. Its commands are the rows of
 * device_commands (command.h). Single-threaded, like the rest of sensorbroctl.
 */
#ifndef SENSORBROCTL_DEVICE_H
#define SENSORBROCTL_DEVICE_H

#include <stddef.h>

#include "command.h"

/* The rows of "device add", "device list", ... for the dispatcher. */
extern const struct ctl_command device_commands[];
extern const size_t device_command_count;

#endif
