/*
 * metrics.c - the list of named values (see metrics.h). What goes into it is each
 * module's collector's (report.h).
 */
#include "metrics.h"

#include <stdio.h>
#include <string.h>

void metrics_clear(struct metrics *m)
{
    m->count = 0;
}

int metrics_add(struct metrics *m, enum metric_kind kind, const char *name, const char *label,
                const char *label_value, double value)
{
    if (m->count >= METRICS_MAX)
        return -1;
    struct metric *item = &m->items[m->count];
    int n =
        label ? snprintf(item->name, sizeof(item->name), "%s{%s=\"%s\"}", name, label, label_value)
              : snprintf(item->name, sizeof(item->name), "%s", name);
    if (n < 0 || (size_t)n >= sizeof(item->name))
        return -1;
    item->kind = kind;
    item->value = value;
    m->count++;
    return 0;
}

const struct metric *metrics_find(const struct metrics *m, const char *name)
{
    for (size_t i = 0; i < m->count; i++)
        if (strcmp(m->items[i].name, name) == 0)
            return &m->items[i];
    return NULL;
}

double metrics_sum(const struct metrics *m, const char *name)
{
    size_t len = strlen(name);
    double sum = 0;
    for (size_t i = 0; i < m->count; i++) {
        const char *item = m->items[i].name;
        if (strncmp(item, name, len) == 0 && (item[len] == '\0' || item[len] == '{'))
            sum += m->items[i].value;
    }
    return sum;
}
