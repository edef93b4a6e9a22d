/*
 * privilege.c - becoming an unprivileged user after start-up (privilege.h).
 */
#include "privilege.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

/* The journal file, created for the user when missing; its companions checked when there. */
static int prepare_journal(const struct privilege *p, const struct config *cfg, char *err,
                           size_t err_size)
{
    const char *path = cfg->journal.path;
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0) {
        int rc = fchown(fd, p->uid, p->gid);
        int saved = errno;
        close(fd);
        if (rc != 0) {
            snprintf(err, err_size, "journal.path: cannot give %.200s to user %s: %s", path,
                     p->user, strerror(saved));
            return -1;
        }
        return 0;
    }
    if (errno != EEXIST) {
        snprintf(err, err_size, "journal.path: cannot create %.200s: %s", path, strerror(errno));
        return -1;
    }
    static const char *const companions[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < sizeof(companions) / sizeof(companions[0]); i++) {
        char name[CONFIG_PATH_SIZE + 8];
        snprintf(name, sizeof(name), "%s%s", path, companions[i]);
        struct stat st;
        if (lstat(name, &st) != 0 || st.st_uid == p->uid)
            continue;
        snprintf(err, err_size,
                 "journal.path: %.200s belongs to uid %u, but sensorbro runs as %s (uid %u) "
                 "once started: run chown %s: %.200s*",
                 name, (unsigned)st.st_uid, p->user, (unsigned)p->uid, p->user, path);
        return -1;
    }
    return 0;
}

int privilege_prepare(struct privilege *p, const struct config *cfg, char *err, size_t err_size)
{
    memset(p, 0, sizeof(*p));
    if (geteuid() != 0)
        return 0;
    const char *name = cfg->service.run_as_user;
    snprintf(p->user, sizeof(p->user), "%s", name);
    char buf[4096];
    struct passwd pw, *found = NULL;
    int rc = getpwnam_r(name, &pw, buf, sizeof(buf), &found);
    if (found == NULL) {
        char where[300];
        config_describe_origin(cfg, "service", "run_as_user", where, sizeof(where));
        snprintf(err, err_size,
                 "%s: started as root, but there is no user \"%s\" to become%s%s: create it "
                 "(systemd-sysusers, or adduser --system --group %s), or set "
                 "service.run_as_user = root to keep root",
                 where, name, rc ? ": " : "", rc ? strerror(rc) : "", name);
        return -1;
    }
    if (found->pw_uid == 0) {
        p->keep_root = true;
        return 0;
    }
    p->drop = true;
    p->uid = found->pw_uid;
    p->gid = found->pw_gid;
    return prepare_journal(p, cfg, err, err_size);
}

/* Every id and the group list are the user's, and root is out of reach. */
static int verify_dropped(const struct privilege *p, char *err, size_t err_size)
{
    uid_t ruid, euid, suid;
    gid_t rgid, egid, sgid, groups[2];
    if (getresuid(&ruid, &euid, &suid) != 0 || getresgid(&rgid, &egid, &sgid) != 0 ||
        ruid != p->uid || euid != p->uid || suid != p->uid || rgid != p->gid || egid != p->gid ||
        sgid != p->gid) {
        snprintf(err, err_size, "after the drop to %s the process ids are not all the user's",
                 p->user);
        return -1;
    }
    int n = getgroups(2, groups);
    if (n < 0 || n > 1 || (n == 1 && groups[0] != p->gid)) {
        snprintf(err, err_size, "after the drop to %s other groups remain", p->user);
        return -1;
    }
    if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0) {
        snprintf(err, err_size, "after the drop to %s the process could become root again",
                 p->user);
        return -1;
    }
    return 0;
}

int privilege_drop(const struct privilege *p, const struct config *cfg, char *err, size_t err_size)
{
    if (!p->drop)
        return 0;
    /* groups first: once the uid is not root, they can no longer be changed */
    if (setgroups(1, &p->gid) != 0 || setresgid(p->gid, p->gid, p->gid) != 0 ||
        setresuid(p->uid, p->uid, p->uid) != 0) {
        snprintf(err, err_size, "cannot become user %s (uid %u, gid %u): %s", p->user,
                 (unsigned)p->uid, (unsigned)p->gid, strerror(errno));
        return -1;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        snprintf(err, err_size, "prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
        return -1;
    }
    if (verify_dropped(p, err, err_size) != 0)
        return -1;
#if defined(__SANITIZE_ADDRESS__)
    /* Sanitizer builds only (never shipped): changing the uid made the process
     * non-dumpable, and LeakSanitizer's tracer, a process of its own, then cannot read
     * /proc/<pid>/task at exit and aborts the run (seen in a fresh Debian 12 chroot). */
    (void)prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
#endif
    char why[CONFIG_ERROR_SIZE];
    if (config_check_files(cfg, why) != 0) {
        snprintf(err, err_size, "as user %s: %s (the user must be able to read it)", p->user, why);
        return -1;
    }
    return 0;
}
