/* test_memory.c: the memory estimate and the limits it is checked against (suite "memory"):
 * the cgroup limit read from hand-made /proc/self/cgroup, mountinfo and cgroupfs trees (v2
 * memory.max and v1 memory.limit_in_bytes, nested, "max", a container's namespaced view);
 * the estimate counting what the measured peaks showed (a depth-2, width-2e6 network peaks
 * at 3.7 GB, where the old check assumed 2.05 GB) and growing with every buffer an option
 * adds; and `dln` refusing, with exit 2 and the numbers, a run that RLIMIT_AS cannot hold
 * instead of failing halfway (not under the sanitizers, which need the address space). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_runner.h"
#include "test_support.h"

static char root[256];

static void setup(void) { ts_tempdir(root, sizeof root, "memory"); }
static void teardown(void) { ts_rmtree(root); }
TestSuite(memory, .init = setup, .fini = teardown, .timeout = 120);

/* root/rel with every directory on the way made, holding text. */
static void put(const char *rel, const char *text)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    for (char *s = strchr(p + strlen(root) + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        mkdir(p, 0777);
        *s = '/';
    }
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f, "%s", p);
    fputs(text, f);
    fclose(f);
}

static double limit(void)
{
    char c[512], m[512];
    snprintf(c, sizeof c, "%s/cgroup", root);
    snprintf(m, sizeof m, "%s/mountinfo", root);
    return dln_cgroup_memory_limit(c, m, root);
}

#define GIB 1073741824.0

Test(memory, cgroup_v2_tightest_on_the_path)
{
    put("mountinfo", "24 1 0:21 / /proc rw - proc proc rw\n"
                     "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n");
    put("cgroup", "0::/user.slice/job.scope\n");
    put("sys/fs/cgroup/user.slice/job.scope/memory.max", "max\n");
    put("sys/fs/cgroup/user.slice/memory.max", "1610612736\n");
    put("sys/fs/cgroup/memory.max", "4294967296\n"); /* the root has none in reality; the walk takes the min */
    cr_assert_eq(limit(), 1.5 * GIB);
    put("sys/fs/cgroup/user.slice/job.scope/memory.max", "1073741824\n");
    cr_assert_eq(limit(), 1.0 * GIB);
    put("sys/fs/cgroup/user.slice/job.scope/memory.max", "max\n");
    put("sys/fs/cgroup/user.slice/memory.max", "max\n");
    put("sys/fs/cgroup/memory.max", "max\n");
    cr_assert(isinf(limit()), "no limit: %g", limit());
}

Test(memory, cgroup_v1_and_a_namespaced_view)
{
    put("mountinfo", "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
                     "36 31 0:33 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu,cpuacct\n");
    put("cgroup", "5:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n0::/\n");
    put("sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes", "9223372036854771712\n"); /* v1: none */
    put("sys/fs/cgroup/memory/docker/memory.limit_in_bytes", "2147483648\n");
    cr_assert_eq(limit(), 2.0 * GIB);
    /* inside the container the hierarchy is mounted at its own cgroup: /docker/abc is the
     * mount's root, and the limit file is at the mount point itself */
    put("mountinfo", "35 31 0:32 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n");
    put("sys/fs/cgroup/memory/memory.limit_in_bytes", "536870912\n");
    cr_assert_eq(limit(), 0.5 * GIB);
    /* unreadable or absent: no limit, never a failure */
    put("cgroup", "garbage\n");
    cr_assert(isinf(limit()));
}

Test(memory, the_live_limits_are_sane)
{
    dln_mem_limits l;
    dln_memory_limits(&l);
    cr_assert(l.physical > 1e8 && isfinite(l.physical), "physical %g", l.physical);
    cr_assert(l.cgroup > 0 && l.address_space > 0);
    cr_assert(l.resident > 1e6 && l.mapped >= l.resident, "resident %g mapped %g", l.resident, l.mapped);
}

static double estimate(const dln_shape *s, const dln_train_opts *t, int is_host)
{
    dln_run_plan p = {32, 32, 256, 1, 8, 0, s, DLN_INIT_ORTHOGONAL, t, DLN_SOLVER_AUTO, 0, 0};
    dln_mem_estimate e;
    dln_memory_estimate(&p, is_host, &e);
    return e.host + e.backend;
}

Test(memory, estimate_counts_every_buffer)
{
    dln_shape s;
    ts_shape(&s, 2, (const int[]){32, 2000000, 32});
    dln_train_opts t;
    dln_train_opts_default(&t);
    /* measured: 3.806 GB peak RSS, about 0.2 GB of it the process before the run */
    double plain = estimate(&s, &t, 1);
    cr_assert(plain >= 3.5e9 && plain <= 4.2e9, "estimate %.3g for a 3.6 GB run", plain);
    /* momentum and the line search each add a copy of the weights (1.024 GB) */
    t.momentum = 0.9;
    double mom = estimate(&s, &t, 1);
    cr_assert(fabs(mom - plain - 1.024e9) < 1e7, "momentum adds %.4g", mom - plain);
    t.momentum = 0, t.line_search = 1;
    cr_assert(fabs(estimate(&s, &t, 1) - mom) < 1e3);
    /* fp32 halves the network's share; a device takes the network off the host */
    t.line_search = 0, t.dtype = DLN_F32;
    cr_assert(estimate(&s, &t, 1) < plain - 1e9);
    t.dtype = DLN_F64;
    dln_run_plan p = {32, 32, 256, 1, 8, 0, &s, DLN_INIT_ORTHOGONAL, &t, DLN_SOLVER_AUTO, 0, 0};
    dln_mem_estimate dev;
    dln_memory_estimate(&p, 0, &dev);
    /* the host keeps the weights (1.024 GB) and, while they are drawn, the QR scratch (0.5 GB) */
    cr_assert(dev.backend >= 2.5e9 && dev.host < 1.7e9, "device %g host %g", dev.backend, dev.host);
    /* solve only: the data and the solver */
    p.shape = NULL;
    dln_memory_estimate(&p, 1, &dev);
    cr_assert(dev.host < 2e8 && dev.host > DLN_MEM_SLACK, "solve %g", dev.host);
    dln_shape_free(&s);
}

/* The solver's part by route on a tall problem (dx 256, dy 64, m 1e5: 256 MB of data): the
 * SVD route holds X^T and U (m x dx each, 205 MB apiece) and a copy of Y^T beside the data;
 * the QR route only its blocks of 8 dx rows and dx x dx factors (a few MB). AUTO is QR when
 * m >= dx and SVD for wide X. */
Test(memory, the_solver_estimate_follows_the_route)
{
    double data = 8.0 * (256 + 64) * 1e5, est[3];
    for (int route = 0; route < 3; route++) {
        dln_run_plan p = {256, 64, 100000, 0, 0, 1, NULL, -1, NULL, route, 0, 0};
        dln_mem_estimate e;
        dln_memory_estimate(&p, 1, &e);
        est[route] = e.host - DLN_MEM_SLACK;
    }
    cr_expect_eq(est[DLN_SOLVER_AUTO], est[DLN_SOLVER_QR]);
    cr_expect(est[DLN_SOLVER_SVD] > data + 2 * 8.0 * 256 * 1e5, "SVD route %.4g, data %.4g", est[DLN_SOLVER_SVD], data);
    cr_expect(est[DLN_SOLVER_QR] < 1.1 * data, "QR route %.4g, data %.4g", est[DLN_SOLVER_QR], data);
    dln_run_plan wide = {256, 64, 100, 0, 0, 1, NULL, -1, NULL, DLN_SOLVER_AUTO, 0, 0};
    dln_mem_estimate a, b;
    dln_memory_estimate(&wide, 1, &a);
    wide.solver_route = DLN_SOLVER_SVD;
    dln_memory_estimate(&wide, 1, &b);
    cr_expect_eq(a.host, b.host, "wide X: AUTO is the SVD route");
}

Test(memory, address_space_limit_is_refused_up_front)
{
    if (under_sanitizer()) cr_skip_test("the sanitizers reserve terabytes of address space");
    run_opts lim = {.as_limit = 3e9};
    /* the host's limit: on the CPU backend (a device's network is in its own memory) */
    expect_bad(DLN_WITH(&lim, "train", "--backend", "cpu", "--depth", "2", "--width", "2000000", "--steps", "3", "--quiet"),
               "RLIMIT_AS");
    expect_bad(DLN_WITH(&lim, "solve", "--backend", "cpu", "--dx", "20000", "--samples", "20000", "--quiet"), "RLIMIT_AS");
}

/* A batch (dln_run_plan.batch): each member adds its host weights and its share of the
 * batch's buffers; with the sharpness rule also a weight-shaped vector on the host. */
Test(memory, estimate_counts_the_batch)
{
    dln_shape s;
    ts_shape(&s, 3, (const int[]){32, 64, 64, 32});
    dln_train_opts t;
    dln_train_opts_default(&t);
    t.lr = 0.01;
    dln_run_plan p = {32, 32, 256, 1, 8, 0, &s, DLN_INIT_ORTHOGONAL, &t, DLN_SOLVER_AUTO, 32, 0};
    dln_mem_estimate one, many; /* 32 and 64 members: both peak in training */
    dln_memory_estimate(&p, 1, &one);
    p.batch = 64;
    dln_memory_estimate(&p, 1, &many);
    /* trained on the compression: 32 columns */
    double per = 8.0 * (double)dln_shape_params(&s) +
                 (double)(dln_network_bytes(&s, &(dln_network_config){.n = 32, .count = 2}) -
                          dln_network_bytes(&s, &(dln_network_config){.n = 32, .count = 1}));
    cr_assert_str_eq(one.phase, "training");
    cr_assert(fabs(many.host - one.host - 32 * per) < 1.0, "32 more members add %.6g, expected %.6g",
              many.host - one.host, 32 * per);
    t.lr = 0; /* the sharpness rule */
    dln_mem_estimate rule;
    dln_memory_estimate(&p, 1, &rule);
    cr_assert(rule.host - many.host > 64 * 8.0 * (double)dln_shape_params(&s), "the rule's vectors: %.6g",
              rule.host - many.host);
    /* threads (dln_backend_set_threads): each adds its stack and OpenBLAS buffer and, with
     * the rule, a network, its product buffers (at most twice the network) and a Lanczos
     * basis of 24 weight-shaped vectors, where the members are small enough to be spread
     * (here the largest GEMM is 64 x 64 x 32 = 131072 multiply-adds) */
    p.batch_threads = 3;
    dln_mem_estimate threads;
    dln_memory_estimate(&p, 1, &threads);
    double extra = 2 * (3.0 * (double)dln_network_bytes(&s, &(dln_network_config){.n = 32}) + DLN_MEM_THREAD_BYTES +
                        24.0 * 8.0 * (double)dln_shape_params(&s));
    cr_assert_eq(dln_network_threads_used(&s, 32, 3), 3);
    cr_assert(fabs(threads.host - rule.host - extra) < 1.0, "3 threads add %.6g, expected %.6g",
              threads.host - rule.host, extra);
    dln_shape big;
    ts_shape(&big, 2, (const int[]){32, 4096, 32}); /* 4096 x 32 x 32 > DLN_MEMBER_WORK_MAX: not spread */
    cr_assert_eq(dln_network_threads_used(&big, 32, 3), 1);
    p.shape = &big, p.batch_threads = 0;
    dln_memory_estimate(&p, 1, &one);
    p.batch_threads = 3;
    dln_memory_estimate(&p, 1, &many);
    cr_assert_eq(many.host, one.host, "threads that compute nothing count nothing (a batch of large members "
                 "runs in turn, its pieces too)");
    /* a single run: the threads compute the pieces of its long products, each with its stack
     * and OpenBLAS buffer */
    p.batch = 0, p.batch_threads = 0;
    dln_memory_estimate(&p, 1, &one);
    p.batch_threads = 3;
    dln_memory_estimate(&p, 1, &many);
    cr_assert(fabs(many.host - one.host - 2 * (DLN_MEM_THREAD_BYTES + DLN_MEM_ARENA_BYTES)) < 1.0,
              "a single run on 3 threads adds %.6g", many.host - one.host);
    dln_shape_free(&big);
    dln_shape_free(&s);
}
