/*
 * odl_config.h - compile-time maxima of the core.
 *
 * Every array inside the core's structs is sized by these, so they bound the
 * size of odl_model_t itself; the big buffers live in the caller's arena and
 * are sized at run time. Override with -D (the Zephyr build maps Kconfig
 * options onto them).
 */
#ifndef ODL_CONFIG_H
#define ODL_CONFIG_H

#ifndef ODL_MAX_LAYERS
#define ODL_MAX_LAYERS 4 /* dense layers */
#endif

#ifndef ODL_MAX_INPUTS
#define ODL_MAX_INPUTS 1024 /* features of one sample */
#endif

#ifndef ODL_MAX_NEURONS
#define ODL_MAX_NEURONS 256 /* outputs of any one layer, classes included */
#endif

/* The blob format has room for 4 layers, so 4 is also the hard ceiling. */
#if ODL_MAX_LAYERS < 1 || ODL_MAX_LAYERS > 4
#error "ODL_MAX_LAYERS must be 1..4"
#endif
#if ODL_MAX_INPUTS < 1 || ODL_MAX_INPUTS > 65535
#error "ODL_MAX_INPUTS must be 1..65535"
#endif
#if ODL_MAX_NEURONS < 2 || ODL_MAX_NEURONS > 65535
#error "ODL_MAX_NEURONS must be 2..65535"
#endif

#endif /* ODL_CONFIG_H */
