/*
 * fdio.h - whole writes on file descriptors.
 *
 * write(2) may write less than asked (pipes, signals); every caller that must deliver a whole
 * message (the worker's protocol frames, a loader check reporting to its parent) loops the
 * same way, here.
 */
#ifndef SIEVE_BASE_FDIO_H
#define SIEVE_BASE_FDIO_H

#include <stddef.h>

/* Writes all `n` bytes, retrying after EINTR and short writes. Returns 0, or -1 with errno
 * set (a closed pipe is EPIPE). Thread: safe; concurrent writers must serialise themselves. */
int fd_write_all(int fd, const void *p, size_t n);

#endif
