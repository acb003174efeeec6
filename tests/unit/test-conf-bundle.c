/* SPDX-License-Identifier: MIT */
/*
 * test-conf-bundle.c — the configuration bundle of privilege separation (src/conf/bundle.c):
 * a load recorded, serialized, parsed and replayed gives the same services as the files,
 * without the files; a failed read is replayed as the same failure; malformed bundles are
 * refused.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/bundle.h"
#include "conf/conf.h"

static char dir[64];

static void write_file(const char *name, const char *text)
{
        char path[256];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

static int setup(void **state)
{
        char path[256], text[512];

        strcpy(dir, "/tmp/test-conf-bundle.XXXXXX");
        if (!mkdtemp(dir))
                return -1;
        snprintf(path, sizeof(path), "%s/d", dir);
        mkdir(path, 0755);
        snprintf(text, sizeof(text), "defaults\n{\n}\nincludedir %s/d\n", dir);
        write_file("main.conf", text);
        write_file("d/b", "service b\n{\n\ttype = INTERNAL UNLISTED\n\tid = b-stream\n"
                   "\tsocket_type = stream\n\tprotocol = tcp\n\twait = no\n\tport = 7001\n}\n");
        write_file("d/a", "service a\n{\n\ttype = INTERNAL UNLISTED\n\tid = a-stream\n"
                   "\tsocket_type = stream\n\tprotocol = tcp\n\twait = no\n\tport = 7002\n}\n");
        write_file("d/skipped.conf", "this is not read: a name with a dot\n");
        return 0;
}

static int teardown(void **state)
{
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        return system(cmd) == 0 ? 0 : -1;
}

static void test_record_replay(void **state)
{
        char main_path[256], *buf;
        size_t size;
        ConfBundle *rec, *parsed;
        ConfLoadOptions o = { .path = main_path };
        ConfDiag d1 = CONF_DIAG_NULL, d2 = CONF_DIAG_NULL;
        Config *c1, *c2;

        snprintf(main_path, sizeof(main_path), "%s/main.conf", dir);
        assert_int_equal(conf_bundle_new(&rec), 0);
        o.record = rec;
        assert_int_equal(conf_load(&o, &c1, &d1), 0);
        assert_int_equal(conf_bundle_count(rec), 4);     /* main, the dir, a, b */
        assert_int_equal(conf_bundle_serialize(rec, &buf, &size), 0);
        assert_int_equal(conf_bundle_parse(buf, size, &parsed), 0);
        free(buf);
        conf_bundle_free(rec);

        /* the files are gone: the replay does not need them */
        assert_int_equal(teardown(state), 0);
        o.record = NULL;
        o.replay = parsed;
        assert_int_equal(conf_load(&o, &c2, &d2), 0);
        assert_int_equal(d2.n_errors, d1.n_errors);
        assert_int_equal(c2->n_services, c1->n_services);
        assert_int_equal(c2->n_services, 2);
        for (size_t i = 0; i < c1->n_services; i++) {
                assert_string_equal(c2->services[i]->id, c1->services[i]->id);
                assert_int_equal(c2->services[i]->port, c1->services[i]->port);
        }
        assert_string_equal(c2->services[0]->id, "a-stream");   /* includedir order */
        config_free(c1);
        config_free(c2);
        conf_diag_deinit(&d1);
        conf_diag_deinit(&d2);
        conf_bundle_free(parsed);
        assert_int_equal(setup(state), 0);
}

static void test_failure_replayed(void **state)
{
        ConfBundle *rec, *parsed;
        ConfLoadOptions o = { .path = "/nonexistent/portier.conf" };
        ConfDiag d = CONF_DIAG_NULL;
        Config *c = NULL;
        char *buf;
        size_t size;

        assert_int_equal(conf_bundle_new(&rec), 0);
        o.record = rec;
        assert_int_equal(conf_load(&o, &c, &d), -ENOENT);
        conf_diag_deinit(&d);
        assert_int_equal(conf_bundle_serialize(rec, &buf, &size), 0);
        assert_int_equal(conf_bundle_parse(buf, size, &parsed), 0);
        free(buf);
        o.record = NULL;
        o.replay = parsed;
        assert_int_equal(conf_load(&o, &c, &d), -ENOENT);
        conf_diag_deinit(&d);
        /* a path the recording load never looked at is not read from the disk either */
        o.path = "/etc/passwd";
        assert_int_equal(conf_load(&o, &c, &d), -ENOENT);
        conf_diag_deinit(&d);
        conf_bundle_free(parsed);
        conf_bundle_free(rec);
}

static void test_malformed(void **state)
{
        ConfBundle *b, *p;
        char *buf;
        size_t size;
        char *names[] = { "x", "y" };

        assert_int_equal(conf_bundle_new(&b), 0);
        assert_int_equal(conf_bundle_add_file(b, "/f", 0, NULL, 1, 2, "abc", 3), 0);
        assert_int_equal(conf_bundle_add_dir(b, "/d", 0, names, 2), 0);
        assert_int_equal(conf_bundle_add_refusal(b, 7, 3, "the message", "short"), 0);
        assert_int_equal(conf_bundle_serialize(b, &buf, &size), 0);
        assert_int_equal(conf_bundle_parse(buf, size, &p), 0);
        assert_non_null(conf_bundle_find(p, CONF_BUNDLE_DIR, "/d"));
        assert_int_equal(conf_bundle_find(p, CONF_BUNDLE_DIR, "/d")->n_names, 2);
        assert_null(conf_bundle_find(p, CONF_BUNDLE_FILE, "/d"));
        assert_non_null(conf_bundle_find(p, CONF_BUNDLE_REFUSAL, "7"));
        assert_string_equal(conf_bundle_find(p, CONF_BUNDLE_REFUSAL, "7")->errtext,
                            "the message");
        assert_memory_equal(conf_bundle_find(p, CONF_BUNDLE_REFUSAL, "7")->data, "short", 6);
        assert_int_equal(conf_bundle_find(p, CONF_BUNDLE_REFUSAL, "7")->error, 3);
        conf_bundle_free(p);
        /* every truncation is refused (never read past the end: ASan) */
        for (size_t n = 0; n < size; n++)
                assert_int_equal(conf_bundle_parse(buf, n, &p), -EBADMSG);
        /* a bad magic, a count that does not match, a kind that does not exist */
        buf[0] = 'X';
        assert_int_equal(conf_bundle_parse(buf, size, &p), -EBADMSG);
        buf[0] = 'P';
        buf[4] = 4;
        assert_int_equal(conf_bundle_parse(buf, size, &p), -EBADMSG);
        buf[4] = 2;
        assert_int_equal(conf_bundle_parse(buf, size, &p), -EBADMSG);
        buf[4] = 3;
        buf[8] = 9;
        assert_int_equal(conf_bundle_parse(buf, size, &p), -EBADMSG);
        free(buf);
        conf_bundle_free(b);
}

/* A recording load streamed to a pipe while another thread loads from it: the same
 * services, the stream complete. */
typedef struct Streamer {
        ConfLoadOptions o;
        ConfBundle *rec;
        int fd;
        int r, end;
} Streamer;

static void *record_streaming(void *arg)
{
        Streamer *st = arg;
        ConfDiag d = CONF_DIAG_NULL;
        Config *c = NULL;

        st->r = conf_bundle_stream_to(st->rec, st->fd);
        if (st->r == 0)
                st->r = conf_load(&st->o, &c, &d);
        st->end = conf_bundle_stream_end(st->rec);
        close(st->fd);
        config_free(c);
        conf_diag_deinit(&d);
        return NULL;
}

static void test_streamed(void **state)
{
        char main_path[256];
        int pfd[2];
        pthread_t t;
        Streamer st = { 0 };
        ConfBundle *in;
        ConfLoadOptions o = { .path = main_path };
        ConfDiag d = CONF_DIAG_NULL;
        Config *c;

        snprintf(main_path, sizeof(main_path), "%s/main.conf", dir);
        assert_int_equal(pipe(pfd), 0);
        assert_int_equal(conf_bundle_new(&st.rec), 0);
        st.o = (ConfLoadOptions){ .path = main_path, .record = st.rec };
        st.fd = pfd[1];
        assert_int_equal(conf_bundle_stream_from(pfd[0], 1 << 20, &in), 0);
        assert_int_equal(pthread_create(&t, NULL, record_streaming, &st), 0);
        o.replay = in;
        assert_int_equal(conf_load(&o, &c, &d), 0);
        assert_int_equal(conf_bundle_stream_finish(in), 0);
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_int_equal(st.r, 0);
        assert_int_equal(st.end, 0);
        assert_int_equal(c->n_services, 2);
        assert_string_equal(c->services[0]->id, "a-stream");
        assert_string_equal(c->services[1]->id, "b-stream");
        assert_int_equal(conf_bundle_count(in), conf_bundle_count(st.rec));
        config_free(c);
        conf_diag_deinit(&d);
        conf_bundle_free(in);
        conf_bundle_free(st.rec);
}

/* A stream cut short, or malformed, is found out; a key it never had is not found. */
static void test_stream_cut_and_malformed(void **state)
{
        ConfBundle *b, *in;
        int pfd[2];
        char junk[64];

        /* found in any order; a key the stream never had is not found */
        assert_int_equal(pipe(pfd), 0);
        assert_int_equal(conf_bundle_new(&b), 0);
        assert_int_equal(conf_bundle_stream_to(b, pfd[1]), 0);
        assert_int_equal(conf_bundle_add_file(b, "/f", 0, NULL, 1, 2, "abc", 3), 0);
        assert_int_equal(conf_bundle_add_check(b, CONF_BUNDLE_EXEC, "/bin/x", EACCES), 0);
        assert_int_equal(conf_bundle_stream_end(b), 0);
        close(pfd[1]);
        assert_int_equal(conf_bundle_stream_from(pfd[0], 1 << 20, &in), 0);
        assert_non_null(conf_bundle_find(in, CONF_BUNDLE_EXEC, "/bin/x"));   /* out of order */
        assert_memory_equal(conf_bundle_find(in, CONF_BUNDLE_FILE, "/f")->data, "abc", 4);
        assert_null(conf_bundle_find(in, CONF_BUNDLE_FILE, "/never"));
        assert_int_equal(conf_bundle_stream_finish(in), 0);
        conf_bundle_free(in);
        conf_bundle_free(b);

        /* the writer went away before its end mark */
        assert_int_equal(pipe(pfd), 0);
        assert_int_equal(write(pfd[1], "PCS1", 4), 4);
        close(pfd[1]);
        assert_int_equal(conf_bundle_stream_from(pfd[0], 1 << 20, &in), 0);
        assert_null(conf_bundle_find(in, CONF_BUNDLE_FILE, "/f"));
        assert_int_equal(conf_bundle_stream_finish(in), -EPIPE);
        conf_bundle_free(in);

        /* junk, and a record longer than the bound */
        assert_int_equal(pipe(pfd), 0);
        memset(junk, 0x7f, sizeof(junk));
        assert_int_equal(write(pfd[1], junk, sizeof(junk)), (ssize_t)sizeof(junk));
        close(pfd[1]);
        assert_int_equal(conf_bundle_stream_from(pfd[0], 1 << 20, &in), 0);
        assert_int_equal(conf_bundle_stream_finish(in), -EBADMSG);
        conf_bundle_free(in);
        assert_int_equal(pipe(pfd), 0);
        assert_int_equal(conf_bundle_new(&b), 0);
        assert_int_equal(conf_bundle_stream_to(b, pfd[1]), 0);
        assert_int_equal(conf_bundle_add_file(b, "/f", 0, NULL, 1, 2, "0123456789", 10), 0);
        assert_int_equal(conf_bundle_stream_end(b), 0);
        close(pfd[1]);
        assert_int_equal(conf_bundle_stream_from(pfd[0], 40, &in), 0);
        assert_null(conf_bundle_find(in, CONF_BUNDLE_FILE, "/f"));
        assert_int_equal(conf_bundle_stream_finish(in), -EBADMSG);
        conf_bundle_free(in);
        conf_bundle_free(b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_record_replay),
                cmocka_unit_test(test_failure_replayed),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_streamed),
                cmocka_unit_test(test_stream_cut_and_malformed),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
