/* weights_internal.h: what the loading (weights_io.c) and saving (weights_save.c) of
 * weights share (internal to src/model/): the names of weight files. */
#ifndef DLN_WEIGHTS_INTERNAL_H
#define DLN_WEIGHTS_INTERNAL_H

/* The layer index k of a file named W<k>.npy written canonically (1 <= k <= DLN_MAX_DEPTH + 1,
 * no leading zero); 0 when the name is not W<digits>.npy at all; -1 when it is, but not
 * canonically (W0.npy, W01.npy, an index past the limit): such a name is refused. */
int dln_weight_index(const char *name);

#endif
