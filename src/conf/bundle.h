/* SPDX-License-Identifier: MIT */
#ifndef PORTIER_CONF_BUNDLE_H
#define PORTIER_CONF_BUNDLE_H

/*
 * bundle — the files a configuration load read, recorded so that another process can load
 * the same configuration from the same bytes.
 *
 * With privilege separation (portierd(8)), the root monitor loads each configuration and
 * records every file it read (path -> bytes, or the error), every includedir it listed (dir ->
 * the sorted names) and the banner files; the unprivileged network process, which may not
 * be able to read those files at all, loads from the bundle instead of the file system. Both
 * then hold the same services in the same order, so a service is named across the boundary
 * by its generation and index.
 *
 * A bundle crosses the boundary serialized (conf_bundle_serialize / conf_bundle_parse); the
 * parser checks every length against the buffer and is fuzzable.
 */

#include <stddef.h>
#include <stdint.h>

typedef enum ConfBundleKind {
        CONF_BUNDLE_FILE = 1,
        CONF_BUNDLE_DIR = 2,
        CONF_BUNDLE_EXEC = 3,           /* is the file an executable? (error only) */
        CONF_BUNDLE_READABLE = 4,       /* is the file readable? (error only) */
        CONF_BUNDLE_REFUSAL = 5,        /* a service the daemon refused after the load (its
                                           protections cannot be given): path = its index,
                                           error = the attribute, errtext = the message,
                                           data = the short reason */
} ConfBundleKind;

typedef struct ConfBundleEntry {
        uint32_t kind;                  /* ConfBundleKind */
        int32_t error;                  /* 0, or the errno of the failed read/listing */
        uint64_t dev, ino;              /* the file's identity (include loops) */
        const char *path;
        const char *errtext;            /* "" or the loader's own words ("not a regular file") */
        const char *data;               /* FILE: the bytes; DIR: the names, each NUL-ended */
        uint64_t size;
        uint32_t n_names;               /* DIR: how many names */
} ConfBundleEntry;

typedef struct ConfBundle ConfBundle;

int conf_bundle_new(ConfBundle **ret);
ConfBundle *conf_bundle_free(ConfBundle *b);

/* Recording (one thread at a time). Return: 0 or -ENOMEM. */
int conf_bundle_add_file(ConfBundle *b, const char *path, int error, const char *errtext,
                         uint64_t dev, uint64_t ino, const void *data, size_t size);
int conf_bundle_add_check(ConfBundle *b, ConfBundleKind kind, const char *path, int error);
int conf_bundle_add_refusal(ConfBundle *b, size_t index, int attr, const char *message,
                            const char *reason);
int conf_bundle_add_dir(ConfBundle *b, const char *path, int error, char *const *names,
                        size_t n);

/**
 * conf_bundle_find() - what the recording load found at @path
 * @b: a parsed bundle (lookups are by binary search; safe from several threads), or a
 *     streamed one (conf_bundle_stream_from(): one thread only; it may read more of the
 *     stream)
 * @kind: CONF_BUNDLE_FILE or CONF_BUNDLE_DIR
 * @path: the path as the loader named it
 *
 * Return: the entry, or NULL when the recording load did not look there.
 */
const ConfBundleEntry *conf_bundle_find(const ConfBundle *b, ConfBundleKind kind,
                                        const char *path);

/**
 * conf_bundle_serialize() - the bundle as one buffer
 * @b: the bundle
 * @ret: receives a malloc()ed buffer
 * @ret_size: its size
 *
 * Return: 0 or -ENOMEM.
 */
int conf_bundle_serialize(const ConfBundle *b, char **ret, size_t *ret_size);

/**
 * conf_bundle_parse() - read a serialized bundle
 * @data: the buffer (copied)
 * @size: its size
 * @ret: the bundle, ready for conf_bundle_find()
 *
 * Return: 0, -EBADMSG for a malformed buffer (a length past its end, a string without its
 * NUL, an unknown kind, names that do not add up), -ENOMEM.
 */
int conf_bundle_parse(const void *data, size_t size, ConfBundle **ret);

size_t conf_bundle_count(const ConfBundle *b);

/*
 * Streaming (privilege separation's reload): the recording load writes each record to a
 * pipe as it makes it, and the other process loads from that pipe at the same time instead of
 * after it. The stream is "PCS1", the records as serialized above, and an end mark (a record
 * header of kind 0 whose data length is the number of records before it).
 */

/** conf_bundle_stream_to() - write every record added from now on to @fd (blocking; not
 * owned). Return: 0 or -errno (the header could not be written). */
int conf_bundle_stream_to(ConfBundle *b, int fd);

/** conf_bundle_stream_end() - the end mark. Return: 0, or the -errno of the first write that
 * failed (the reader then finds the stream cut). */
int conf_bundle_stream_end(ConfBundle *b);

/**
 * conf_bundle_stream_from() - a bundle read from the stream @fd (taken over) on demand:
 * conf_bundle_find() reads records, blocking, until it has the one asked for or the stream
 * ends; at most @max_size bytes in all
 * @fd: the pipe's reading end
 * @max_size: the bound
 * @ret: the bundle
 *
 * Return: 0 or -ENOMEM.
 */
int conf_bundle_stream_from(int fd, uint64_t max_size, ConfBundle **ret);

/** conf_bundle_stream_finish() - read the rest of the stream, to its end mark. Return: 0 when
 * the stream was complete and well-formed, -EBADMSG when it was not, -EPIPE when it was cut,
 * -ENOMEM. */
int conf_bundle_stream_finish(ConfBundle *b);

#endif
