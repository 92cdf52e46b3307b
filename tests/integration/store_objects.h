/*
 * store_objects.h - walking a test store's object files (STORE/objects/ab/<key>.safetensors):
 * each whole object is read and handed to a callback, so a test asserts what every artifact
 * holds without knowing the keys.
 */
#ifndef SIEVE_TEST_STORE_OBJECTS_H
#define SIEVE_TEST_STORE_OBJECTS_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "base/bundle.h"

/* Returns 0 to go on, or a negative value to stop the walk with that value. */
typedef int (*store_object_fn)(const char *path, const struct bundle *b, void *arg);

/*
 * Calls fn for every object under store/objects (temporary files skipped). An object that
 * does not read back is reported on stderr and ends the walk.
 * Returns: the number of objects visited, -1 for an unreadable object, or fn's negative value.
 */
static inline int
store_objects_each(const char *store, store_object_fn fn, void *arg)
{
    char objdir[700];
    int count = 0, rc = 0;
    snprintf(objdir, sizeof objdir, "%s/objects", store);
    DIR *d = opendir(objdir);
    struct dirent *e;
    if (!d)
        return 0;
    while (rc == 0 && (e = readdir(d))) {
        char sub[1000];
        if (e->d_name[0] == '.')
            continue;
        snprintf(sub, sizeof sub, "%s/%s", objdir, e->d_name);
        DIR *sd = opendir(sub);
        struct dirent *f;
        while (rc == 0 && sd && (f = readdir(sd))) {
            char path[1300];
            struct bundle *b;
            struct sieve_errbuf err;
            if (!strstr(f->d_name, ".safetensors") || strstr(f->d_name, ".tmp"))
                continue;
            snprintf(path, sizeof path, "%s/%s", sub, f->d_name);
            if (bundle_read(path, &b, &err) < 0) {
                fprintf(stderr, "bad object %s: %s\n", path, err.msg);
                rc = -1;
                break;
            }
            rc = fn(path, b, arg);
            bundle_free(b);
            count++;
        }
        if (sd)
            closedir(sd);
    }
    closedir(d);
    return rc < 0 ? rc : count;
}

#endif
