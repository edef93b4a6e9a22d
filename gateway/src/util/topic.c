/*
 * util/topic.c - topic templates and topic words (util/topic.h).
 */
#include "util/topic.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* The variable whose placeholder starts at t ('{'), with *len its length with the braces. */
static const struct topic_var *placeholder_at(const char *t, const struct topic_var *vars,
                                              size_t n_vars, size_t *len)
{
    for (size_t i = 0; i < n_vars; i++) {
        size_t n = strlen(vars[i].name);
        if (strncmp(t + 1, vars[i].name, n) == 0 && t[n + 1] == '}') {
            *len = n + 2;
            return &vars[i];
        }
    }
    return NULL;
}

/* Appends n bytes of s to out (used so far: *used); false when they do not fit. */
static bool append(char *out, size_t out_size, size_t *used, const char *s, size_t n)
{
    size_t room = out_size - 1 - *used;
    bool fits = n <= room;
    if (!fits)
        n = room;
    memcpy(out + *used, s, n);
    *used += n;
    return fits;
}

int topic_expand(const char *template, const struct topic_var *vars, size_t n_vars, char *out,
                 size_t out_size)
{
    size_t used = 0;
    bool fits = true;
    for (const char *t = template; *t && fits;) {
        size_t len = 0;
        const struct topic_var *v = *t == '{' ? placeholder_at(t, vars, n_vars, &len) : NULL;
        if (v != NULL) {
            const char *value = v->value ? v->value : "";
            fits = append(out, out_size, &used, value, strlen(value));
            t += len;
        } else {
            size_t n = strcspn(t + 1, "{") + 1; /* up to the next placeholder */
            fits = append(out, out_size, &used, t, n);
            t += n;
        }
    }
    out[used] = '\0';
    return fits ? (int)used : -1;
}

int topic_template_filter(const char *template, const struct topic_var *vars, size_t n_vars,
                          char *out, size_t out_size)
{
    size_t used = 0;
    bool fits = true;
    for (const char *level = template; fits;) {
        size_t level_len = strcspn(level, "/");
        bool unknown = false;
        for (const char *p = level; p < level + level_len && !unknown; p++) {
            size_t len = 0;
            const struct topic_var *v = *p == '{' ? placeholder_at(p, vars, n_vars, &len) : NULL;
            unknown = v != NULL && v->value == NULL;
        }
        if (unknown) {
            fits = append(out, out_size, &used, "+", 1);
        } else {
            for (const char *p = level; p < level + level_len && fits;) {
                size_t len = 0;
                const struct topic_var *v =
                    *p == '{' ? placeholder_at(p, vars, n_vars, &len) : NULL;
                if (v != NULL) {
                    fits = append(out, out_size, &used, v->value, strlen(v->value));
                    p += len;
                } else {
                    fits = append(out, out_size, &used, p, 1);
                    p++;
                }
            }
        }
        level += level_len;
        if (*level == '\0' || !fits)
            break;
        fits = append(out, out_size, &used, "/", 1);
        level++;
    }
    out[used] = '\0';
    return fits ? (int)used : -1;
}

int topic_template_check(const char *template, const char *const names[], char *why,
                         size_t why_size)
{
    if (template[0] == '\0' || strpbrk(template, "+#") != NULL) {
        snprintf(why, why_size, "expected a non-empty topic without the wildcards '+' or '#'");
        return -1;
    }
    for (const char *p = template; (p = strchr(p, '{')) != NULL; p++) {
        bool known = false;
        for (size_t i = 0; names[i] && !known; i++) {
            size_t n = strlen(names[i]);
            known = strncmp(p + 1, names[i], n) == 0 && p[n + 1] == '}';
        }
        if (!known) {
            size_t used = (size_t)snprintf(why, why_size, "expected only the placeholders");
            for (size_t i = 0; names[i] && used < why_size; i++)
                used += (size_t)snprintf(why + used, why_size - used, "%s{%s}",
                                         i == 0                 ? " "
                                         : names[i + 1] == NULL ? " and "
                                                                : ", ",
                                         names[i]);
            return -1;
        }
    }
    return 0;
}

int topic_filter_check(const char *filter, char *why, size_t why_size)
{
    for (const char *p = filter; *p; p++) {
        bool level_start = p == filter || p[-1] == '/';
        bool level_end = p[1] == '\0' || p[1] == '/';
        if ((*p == '+' || *p == '#') && !(level_start && level_end)) {
            snprintf(why, why_size, "expected '+' and '#' to fill a whole topic level");
            return -1;
        }
        if (*p == '#' && p[1] != '\0') {
            snprintf(why, why_size, "expected '#' only as the last topic level");
            return -1;
        }
    }
    return 0;
}

bool topic_is_word_char(int c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.';
}

size_t topic_word_span(const char *s, size_t len)
{
    size_t n = 0;
    while (n < len && topic_is_word_char(s[n]))
        n++;
    return n;
}

bool topic_is_word(const char *s, size_t len, size_t max)
{
    return len > 0 && len <= max && topic_word_span(s, len) == len;
}
