/* SPDX-License-Identifier: MIT */
/*
 * conf-bench — time conf_load() (read, parse, validate, resolve) on a configuration and report
 * the peak memory. Usage: conf-bench CONFIG [RUNS]. Prints one line per figure.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "conf/conf.h"

static double now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
        if (argc < 2) {
                fprintf(stderr, "usage: conf-bench CONFIG [RUNS]\n");
                return 2;
        }
        int runs = argc > 2 ? (int) strtol(argv[2], NULL, 10) : 10;
        if (runs < 1 || runs > 1000)
                runs = 10;
        double *t = calloc((size_t) runs, sizeof(double));
        size_t active = 0, n = 0, errors = 0;
        struct rusage ru0, ru1;

        getrusage(RUSAGE_SELF, &ru0);
        for (int i = 0; i < runs; i++) {
                ConfLoadOptions o = { .path = argv[1] };
                ConfDiag d = CONF_DIAG_NULL;
                Config *c = NULL;
                double t0 = now();
                int r = conf_load(&o, &c, &d);
                t[i] = now() - t0;
                if (r < 0) {
                        fprintf(stderr, "conf-bench: %s: %s\n", argv[1], strerror(-r));
                        conf_diag_print(&d, stderr);
                        return 1;
                }
                n = c->n_services;
                active = c->n_active;
                errors = d.n_errors;
                config_free(c);
                conf_diag_deinit(&d);
        }
        getrusage(RUSAGE_SELF, &ru1);
        qsort(t, (size_t) runs, sizeof(double), cmp);
        printf("services %zu active %zu errors %zu\n", n, active, errors);
        printf("runs %d min_ms %.1f median_ms %.1f max_ms %.1f\n", runs, t[0] * 1e3,
               t[runs / 2] * 1e3, t[runs - 1] * 1e3);
        double cpu = (double) (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
                     (double) (ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                     (double) (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
                     (double) (ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
        printf("cpu_ms_per_run %.1f\n", cpu * 1e3 / runs);
        printf("peak_rss_kib %ld (before the first load %ld)\n", ru1.ru_maxrss, ru0.ru_maxrss);
        free(t);
        return 0;
}
