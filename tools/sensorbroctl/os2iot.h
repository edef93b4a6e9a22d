/*
 * os2iot.h - `sensorbroctl os2iot export|import`: bulk provisioning of the registry's
 * devices in OS2iot through its CSV files. export writes the CSV OS2iot's bulk import
 * takes (its own sample files' headers); import reads the CSV OS2iot's "export CSV" gives
 * back (iotDeviceMetadata.csv) into each device's os2iot.* settings. Its commands are the
 * rows of os2iot_commands (command.h). Single-threaded, like the rest of sensorbroctl.
 */
#ifndef SENSORBROCTL_OS2IOT_H
#define SENSORBROCTL_OS2IOT_H

#include <stddef.h>

#include "command.h"

extern const struct ctl_command os2iot_commands[];
extern const size_t os2iot_command_count;

#endif
