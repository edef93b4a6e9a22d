/*
 * command.h - sensorbroctl's commands as tables: one row per command ("status", "device
 * show") with its synopsis, its help and its options, and the function that runs it.
 *
 * The dispatcher (sensorbroctl.c) finds the row for the words on the command line, checks
 * the command's options against the row before anything else happens (an unknown option
 * names itself; -h/--help prints the command's own usage and exits 0, doing nothing), and
 * only then loads the configuration and runs the command. `sensorbroctl help [COMMAND]`
 * and `sensorbroctl --help` print from the same rows, so a new command is one row plus its
 * function, and its help cannot drift from the dispatcher.
 *
 * Single-threaded, like the rest of sensorbroctl.
 */
#ifndef SENSORBROCTL_COMMAND_H
#define SENSORBROCTL_COMMAND_H

#include <getopt.h>
#include <stddef.h>

#include "config.h"

#define EXIT_USAGE 2

/* What every command gets: the configuration (file and --set) and the journal to use. */
struct ctl {
    struct config cfg;
    const char *journal_path; /* --journal, else the configuration's journal.path */
};

struct ctl_command {
    const char *name;               /* the words that select it: "status", "device show" */
    const char *synopsis;           /* what follows the name; '\n' continues on an indented line */
    const char *summary;            /* one line for the overview of all commands */
    const char *help;               /* what it does and its options, lines of at most 76 columns */
    const char *short_opts;         /* for getopt_long, without 'h'; "" when none */
    const struct option *long_opts; /* NULL-terminated, without --help; NULL when none */
    int (*run)(struct ctl *ctl, int argc, char **argv); /* argv[0]: the name's last word */
};

#endif
