/*
 * device.h - `sensorbroctl device`: the LoRaWAN device registry (gateway/src/registry.h)
 * from the command line. Single-threaded, like the rest of sensorbroctl.
 */
#ifndef SENSORBROCTL_DEVICE_H
#define SENSORBROCTL_DEVICE_H

/* argv[0] is "device". Returns the process exit status: 0, 1 (failed), 2 (usage). */
int cmd_device(const char *journal_path, int argc, char **argv);

#endif
