/* test_backend_cuda.c: what only the CUDA backend has, beyond the operations table
 * (tests/test_backend_ops.c runs every operation on it): running out of device memory,
 * the device description and memory info, the capabilities it reports, and the answers
 * of the no-device path. The device tests skip where no device is usable; the no-device
 * test skips where one is. */
#include <criterion/criterion.h>
#include <string.h>

#include "test_support.h"

Test(cuda, alloc_absurd_is_enomem_and_the_backend_stays_usable)
{
    dln_error err;
    dln_backend *be = ts_backend(DLN_BACKEND_CUDA, &err);
    dln_mat m;
    int rc = dln_mat_alloc(be, &m, 1 << 20, 1 << 20, DLN_F64);
    cr_assert_eq(rc, DLN_ENOMEM, "alloc of 8 TiB returned %d: %s", rc, err.msg);
    cr_assert_null(m.data);
    cr_assert(ts_says(err.msg, "bytes"), "the message should give the bytes: %s", err.msg);
    dln_error_clear(&err);
    dln_mat p, out;
    double ones[100], r = 0.0;
    for (int i = 0; i < 100; i++) ones[i] = 1.0;
    cr_assert_eq(dln_mat_alloc(be, &p, 10, 10, DLN_F64), DLN_OK, "%s", err.msg);
    cr_assert_eq(dln_mat_alloc(be, &out, 1, 1, DLN_F64), DLN_OK, "%s", err.msg);
    cr_assert_eq(dln_upload(be, &p, ones, 10), DLN_OK, "%s", err.msg);
    cr_assert_eq(dln_sumsq(be, &p, &out, 0, 0), DLN_OK, "%s", err.msg);
    cr_assert_eq(dln_download(be, &out, &r, 1), DLN_OK, "%s", err.msg);
    cr_assert_eq(r, 100.0, "sumsq after a failed alloc: %g", r);
    dln_mat_free(be, &p), dln_mat_free(be, &out);
    dln_backend_destroy(be);
}

Test(cuda, capabilities_mem_info_and_description)
{
    dln_error err;
    dln_backend *be = ts_backend(DLN_BACKEND_CUDA, &err);
    cr_assert(dln_backend_supports(be, DLN_CAP_GRAPHS | DLN_CAP_TF32 | DLN_CAP_DEVICE_MEMORY | DLN_CAP_ASYNC));
    size_t free_b = 0, total_b = 0;
    cr_assert_eq(dln_backend_mem_info(be, &free_b, &total_b), DLN_OK, "%s", err.msg);
    cr_assert(total_b > 0 && free_b > 0 && free_b <= total_b, "free %zu total %zu", free_b, total_b);
    char buf[256];
    dln_devices_describe(buf, sizeof buf);
    cr_assert(strncmp(buf, "cuda:", 5) == 0, "describe: %s", buf);
    dln_backend_destroy(be);
}

Test(cuda, no_device_answers_cleanly)
{
    if (dln_backend_available(DLN_BACKEND_CUDA)) cr_skip_test("a CUDA device is present: the no-device path is not reachable");
    char buf[256];
    dln_devices_describe(buf, sizeof buf);
    cr_assert(strncmp(buf, "none (", 6) == 0, "describe: %s", buf);
    dln_error err;
    dln_error_clear(&err);
    dln_backend *be = NULL;
    cr_assert_eq(dln_backend_create(DLN_BACKEND_CUDA, &err, &be, NULL), DLN_EINPUT);
    cr_assert_null(be);
    cr_assert(err.msg[0] != '\0');
    const char *note = NULL;
    cr_assert_eq(dln_backend_create(DLN_BACKEND_AUTO, &err, &be, &note), DLN_OK);
    cr_assert_str_eq(dln_backend_name(be), "cpu");
    cr_assert_not_null(note, "auto says why it chose the CPU");
    dln_backend_destroy(be);
}
