/*
 * mqtt_connack.c - a broker's refusal of a connection, read the same way by both Paho
 * clients (see mqtt_connack.h for what Paho puts where).
 */
#include "mqtt_connack.h"

#include <stdio.h>

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
