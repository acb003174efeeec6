/* SPDX-License-Identifier: MIT */
/*
 * test-conf-threads.c — conf_load() is meant to run on a worker thread while the event loop
 * serves (DESIGN.md decisions 3 and 6): several threads loading configurations at once (with
 * user, group, protocol and service lookups, server checks) all get the same, complete result.
 * Run under ThreadSanitizer or Helgrind to look for races; here it checks results.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "conf/conf.h"

#define THREADS 4
#define ROUNDS 20

static const char text[] =
        "defaults\n{\n log_on_success = PID HOST\n instances = 30\n}\n"
        "service echo\n{\n type = INTERNAL\n id = echo-stream\n socket_type = stream\n wait = no\n}\n"
        "service rsync\n{\n socket_type = stream\n wait = no\n user = nobody\n group = nogroup\n"
        " server = /bin/cat\n only_from = 127.0.0.1 10.0.0.0 192.168.{1,2}\n}\n"
        "service tftp\n{\n socket_type = dgram\n protocol = udp\n wait = yes\n user = root\n"
        " server = /bin/cat\n server_args = -s /srv\n}\n"
        "service bad\n{\n socket_type = stream\n wait = no\n user = no-such-user-xyz\n"
        " server = /bin/cat\n}\n";

typedef struct Result {
        size_t active, skipped, errors;
        uint16_t rsync_port;
        unsigned echo_log;
} Result;

static void *worker(void *arg)
{
        Result *res = arg;
        for (int i = 0; i < ROUNDS; i++) {
                ConfLoadOptions o = { .path = "t.conf", .buffer = text,
                                      .buffer_size = sizeof(text) - 1,
                                      .flags = CONF_LOAD_NO_RESOLVE };
                ConfDiag d = CONF_DIAG_NULL;
                Config *c = NULL;
                if (conf_load(&o, &c, &d) != 0)
                        return NULL;
                Result r = { c->n_active, c->n_skipped, d.n_errors,
                             config_find(c, "rsync")->port,
                             config_find(c, "echo-stream")->log_on_success };
                if (i > 0 && memcmp(&r, res, sizeof(r)) != 0) {
                        res->errors = 999;
                        config_free(c);
                        conf_diag_deinit(&d);
                        return NULL;
                }
                *res = r;
                config_free(c);
                conf_diag_deinit(&d);
        }
        return res;
}

static void test_parallel_loads(void **state)
{
        pthread_t t[THREADS];
        Result r[THREADS] = { 0 };

        for (int i = 0; i < THREADS; i++)
                assert_int_equal(pthread_create(&t[i], NULL, worker, &r[i]), 0);
        for (int i = 0; i < THREADS; i++) {
                void *ret;
                assert_int_equal(pthread_join(t[i], &ret), 0);
                assert_non_null(ret);
                assert_int_equal(r[i].active, 3);
                assert_int_equal(r[i].skipped, 1);
                assert_int_equal(r[i].errors, 1);
                assert_int_equal(r[i].rsync_port, 873);
                assert_int_equal(r[i].echo_log, CONF_LOG_PID | CONF_LOG_HOST);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parallel_loads),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
