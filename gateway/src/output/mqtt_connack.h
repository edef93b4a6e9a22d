/*
 * mqtt_connack.h - what a broker's refusal of a connection means, for the MQTT session
 * (output/mqtt_session.c, which every Paho client of sensorbro goes through): the reason
 * code, whether retrying soon can help, and words for the operator.
 *
 * Paho C 1.3 (Debian 12) reports a CONNACK that refuses an MQTT 5 connection with the
 * reason code in the failure's code field and the message "CONNACK return code", leaving
 * reasonCode 0 (seen with Mosquitto 2.0.11 refusing a wrong password with 0x87); under
 * 3.1.1 the code field holds the CONNACK return code. Paho's own errors are negative.
 *
 * Threads: any; no state.
 */
#ifndef SENSORBRO_MQTT_CONNACK_H
#define SENSORBRO_MQTT_CONNACK_H

#include <stdbool.h>
#include <stddef.h>

#include <MQTTAsync.h>

/* The broker's reason code (MQTT 5) of a failed connect, 0 when the broker said nothing
 * (the connection itself failed). response may be NULL. */
int mqtt_connack_reason5(const MQTTAsync_failureData5 *response);
/* The CONNACK return code (MQTT 3.1.1) of a failed connect, 0 when none. */
int mqtt_connack_reason3(const MQTTAsync_failureData *response);

/* A refusal that will not go away by retrying soon: wrong credentials, not authorised,
 * banned. Such a broker is retried slowly and the refusal logged as an error. */
bool mqtt_connack_is_authorisation(bool mqtt5, int reason);

/* "Not authorized (reason 0x87)", "bad user name or password (CONNACK 4)", or Paho's
 * words for a connection that failed (code, with its text when Paho gave one). */
void mqtt_connack_describe(bool mqtt5, int code, int reason, const char *text, char *out,
                           size_t out_size);

/* Paho says only "TCP/TLS connect failure" when a TLS handshake fails; OpenSSL's reason
 * ("certificate verify failed") reaches the client through MQTTAsync_SSLOptions'
 * ssl_error_cb, one line per queued error, in OpenSSL 3's format
 * "<thread>:error:<code>:<library>:<function>:<reason>:<file>:<line>:<data>". This adds the
 * reason (and the data, when there is any) of one such line to text ("; " between
 * reasons, a repeat left out), keeping text NUL-terminated within text_size. */
void mqtt_connack_add_tls_error(char *text, size_t text_size, const char *line, size_t len);

#endif
