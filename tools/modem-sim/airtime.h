/*
 * airtime.h - EU868 data rates, LoRa time on air and the 1 % duty cycle.
 *
 * Time on air follows Semtech's formula (SX1276 datasheet section 4.1.1.7, AN1200.13) for
 * LoRaWAN's settings: 8 preamble symbols, explicit header, CRC on (uplink), coding rate
 * 4/5, low data rate optimisation at SF11 and SF12 on 125 kHz. For example a 51-byte
 * application payload (64 bytes on air) at SF12/125 kHz takes 2793.472 ms.
 *
 * Duty cycle: EU868's three default channels share sub-band g1 (868.0-868.6 MHz, 1 %), so
 * after a transmission of T ms the band is closed for 99 T ms (ETSI EN 300 220, as LoRaWAN
 * RP002 applies it per sub-band).
 */
#ifndef MODEM_SIM_AIRTIME_H
#define MODEM_SIM_AIRTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EU868_DR_COUNT 7 /* DR0-DR6, the LoRa ones; DR7 (FSK) is not simulated */

struct eu868_dr {
    unsigned sf;
    unsigned bandwidth_khz;
    size_t max_payload; /* FRMPayload bytes without FOpts (RP002 "N") */
};

/* The data rate's parameters, or NULL outside DR0-DR6. */
const struct eu868_dr *eu868_dr(unsigned dr);

/* Time on air in ms of phy_len bytes (MHDR to MIC) at sf and bandwidth. */
double airtime_ms(size_t phy_len, unsigned sf, unsigned bandwidth_khz);

/* "SF12BW125" for the rxpk datr field. */
void airtime_datr(unsigned sf, unsigned bandwidth_khz, char *out, size_t out_size);

/* The sub-band's duty-cycle state, in simulated milliseconds. */
struct duty_cycle {
    double band_free_ms; /* no transmission may start before this */
};

/* How long until the band is free at now_ms (0 when it is). */
double duty_cycle_wait_ms(const struct duty_cycle *d, double now_ms);
/* Records a transmission that ends at end_ms after toa_ms on air. */
void duty_cycle_record(struct duty_cycle *d, double end_ms, double toa_ms);

#endif
