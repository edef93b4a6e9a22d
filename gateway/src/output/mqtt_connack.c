/*
 * mqtt_connack.c - a broker's refusal of a connection, as Paho reports it to the MQTT
 * session (see mqtt_connack.h for what Paho puts where).
 */
#include "output/mqtt_connack.h"

#include <stdio.h>
#include <string.h>

int mqtt_connack_reason5(const MQTTAsync_failureData5 *response)
{
    if (response == NULL)
        return 0;
    if (response->reasonCode != 0)
        return (int)response->reasonCode;
    return response->code > 0 ? response->code : 0;
}

int mqtt_connack_reason3(const MQTTAsync_failureData *response)
{
    return response && response->code > 0 ? response->code : 0;
}

bool mqtt_connack_is_authorisation(bool mqtt5, int reason)
{
    if (mqtt5)
        return reason == MQTTREASONCODE_BAD_USER_NAME_OR_PASSWORD ||
               reason == MQTTREASONCODE_NOT_AUTHORIZED || reason == MQTTREASONCODE_BANNED ||
               reason == MQTTREASONCODE_BAD_AUTHENTICATION_METHOD;
    return reason == 4 || reason == 5;
}

void mqtt_connack_describe(bool mqtt5, int code, int reason, const char *text, char *out,
                           size_t out_size)
{
    static const char *const connack3[] = {
        "accepted",           "unacceptable protocol version", "identifier rejected",
        "server unavailable", "bad user name or password",     "not authorized"};
    if (mqtt5 && reason != 0)
        snprintf(out, out_size, "%s (reason 0x%02x)",
                 MQTTReasonCode_toString((enum MQTTReasonCodes)reason), (unsigned)reason);
    else if (!mqtt5 && reason > 0)
        snprintf(out, out_size, "%s (CONNACK %d)", reason < 6 ? connack3[reason] : "refused",
                 reason);
    else
        snprintf(out, out_size, "%s%s%s", MQTTAsync_strerror(code), text && text[0] ? ": " : "",
                 text ? text : "");
}

void mqtt_connack_add_tls_error(char *text, size_t text_size, const char *line, size_t len)
{
    char copy[512];
    if (text_size == 0)
        return;
    snprintf(copy, sizeof(copy), "%.*s", (int)(len < sizeof(copy) ? len : sizeof(copy) - 1), line);
    copy[strcspn(copy, "\r\n")] = '\0';
    /* fields after ":error:": code, library, function, reason, file, line, data */
    char *fields[7] = {NULL};
    char *rest = strstr(copy, ":error:");
    size_t n = 0;
    if (rest) {
        rest += strlen(":error:");
        for (; n < 6 && rest; n++) {
            fields[n] = rest;
            rest = strchr(rest, ':');
            if (rest)
                *rest++ = '\0';
        }
        fields[6] = rest; /* the data may hold ':' itself */
    }
    char piece[256];
    if (n == 6 && fields[3][0] != '\0')
        snprintf(piece, sizeof(piece), "%.120s%s%.120s", fields[3],
                 fields[6] && fields[6][0] ? ": " : "", fields[6] ? fields[6] : "");
    else
        snprintf(piece, sizeof(piece), "%.250s", copy); /* not OpenSSL 3's format: as it is */
    if (piece[0] == '\0' || strstr(text, piece) != NULL)
        return;
    size_t used = strlen(text);
    if (used + 1 < text_size)
        snprintf(text + used, text_size - used, "%s%s", used ? "; " : "", piece);
}
