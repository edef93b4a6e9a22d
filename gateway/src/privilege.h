/*
 * privilege.h - least privilege for the daemon: started as root, it binds its sockets, then
 * becomes an unprivileged user for good.
 *
 * The order in main: privilege_prepare (as root, before anything opens the journal), then
 * start (journal, publisher, sockets bound), then privilege_drop. Root is needed for a
 * listener on a port below 1024 and for nothing else; the journal and the TLS files are
 * then used as the user. Under systemd (packaging/sensorbro.service, User=sensorbro) the
 * daemon never is root and none of this does anything: the unit's system call filter
 * refuses setuid and friends, and no call is made.
 *
 * What the drop does: setgroups to the user's primary group alone, then setresgid and
 * setresuid to the user (real, effective and saved ids alike, so nothing is kept to switch
 * back to), PR_SET_NO_NEW_PRIVS (no exec can give privileges back), and then it checks the
 * result: every id is the user's, the only group is the user's, and setuid(0) fails. A
 * failure of any step is an error: a daemon that meant to drop root and could not must not
 * go on as root.
 *
 * The journal. A journal that root creates belongs to root, and the user could not open it
 * after the drop (nor could `sudo -u sensorbro sensorbroctl`). So privilege_prepare
 * creates a missing journal file, mode 0600, owned by the user; SQLite, running as root,
 * gives the -wal and -shm it creates the owner of the database file. A journal that exists
 * must already belong to the user: otherwise start-up stops with the chown to run.
 *
 * Threads: the main thread. privilege_drop runs after other threads exist; glibc applies
 * set*id and setgroups to every thread of the process.
 *
 * Errors: -1 with what is wrong and what to run in err; nothing here logs.
 */
#ifndef SENSORBRO_PRIVILEGE_H
#define SENSORBRO_PRIVILEGE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct config;

struct privilege {
    bool drop;      /* started as root with a user to become */
    bool keep_root; /* started as root and told to stay root (run_as_user = root) */
    uid_t uid;
    gid_t gid;
    char user[64];
};

/* As the daemon starts, before the journal opens: decides from the effective user and
 * service.run_as_user, and, when a drop is to come, makes the journal the user's (above).
 * Returns 0, or -1 with err ("<file>:<line>: service.run_as_user: no user ..."). */
int privilege_prepare(struct privilege *p, const struct config *cfg, char *err, size_t err_size);

/* Once every socket is bound: becomes p's user for good and checks it (above), then checks
 * again, as the user, that the TLS files can be read (config_check_files): Paho reads them
 * at every connect. Does nothing when !p->drop. Returns 0, or -1 with err. */
int privilege_drop(const struct privilege *p, const struct config *cfg, char *err, size_t err_size);

#endif
