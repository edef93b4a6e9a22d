/*
 * util/topic.h - MQTT topic templates and topic words: expand, turn into a subscription
 * filter, and check.
 *
 * A template is a topic with placeholders such as sensorbro/{gateway}/{device}/up. Its
 * placeholders are given as a small table of {name, value} (names without the braces).
 * The same functions serve the publisher's data and status topics, the LNS feed's downlink
 * topic, sensorbroctl watch (which subscribes to what the publisher writes) and the
 * configuration's checks, so that what the configuration accepts is what they expand.
 *
 * A topic word is a value that goes into one topic level (a gateway id, an application
 * id): letters, digits, '-', '_' and '.', so never a level separator, a wildcard or a
 * space.
 *
 * Threads: any; no state, no allocation. Outputs are always NUL-terminated (out_size > 0).
 */
#ifndef SENSORBRO_UTIL_TOPIC_H
#define SENSORBRO_UTIL_TOPIC_H

#include <stdbool.h>
#include <stddef.h>

struct topic_var {
    const char *name;  /* "device" stands for {device} */
    const char *value; /* NULL: unknown (see topic_template_filter); "" in topic_expand */
};

/* Writes template into out with each {name} of vars replaced by its value; a placeholder
 * that is not in vars is copied as it stands. Returns the length, or -1 when the result
 * does not fit into out_size (out then holds as much as fits). */
int topic_expand(const char *template, const struct topic_var *vars, size_t n_vars, char *out,
                 size_t out_size);

/* The subscription filter that matches every topic the template expands to: placeholders
 * with a value are replaced, and each level that holds a placeholder whose value is NULL
 * becomes the wildcard '+' (sensorbro/{gateway}/{device}/up with gateway "gw" and device
 * NULL: sensorbro/gw/+/up). Returns the length, or -1 when it does not fit. */
int topic_template_filter(const char *template, const struct topic_var *vars, size_t n_vars,
                          char *out, size_t out_size);

/* Checks a template: not empty, no wildcard '+' or '#', and every '{' opens one of names
 * (NULL-terminated, without braces). Returns 0, or -1 with what was expected in why, e.g.
 * "expected only the placeholders {gateway} and {device}". */
int topic_template_check(const char *template, const char *const names[], char *why,
                         size_t why_size);

/* Checks a subscription filter's wildcards: '+' and '#' each fill a whole level, '#' only
 * as the last one. Returns 0, or -1 with what was expected in why. */
int topic_filter_check(const char *filter, char *why, size_t why_size);

/* Whether c may stand in a topic word. */
bool topic_is_word_char(int c);
/* How many of the first len characters of s, from the start, may stand in a topic word. */
size_t topic_word_span(const char *s, size_t len);
/* Whether s[0..len) is a topic word of 1 to max characters. */
bool topic_is_word(const char *s, size_t len, size_t max);

#endif
