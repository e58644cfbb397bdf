/*
 * odl_status.h - status codes returned by every public function of the core.
 *
 * Codes are stable: they travel over the wire protocol and into host-side
 * error messages, so never renumber one; append new codes at the end.
 */
#ifndef ODL_STATUS_H
#define ODL_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum odl_status {
	ODL_OK = 0,
	ODL_ERR_NULL = -1,            /* a required pointer argument is NULL */
	ODL_ERR_ARCH = -2,            /* layer count or a layer size is 0 or over the maxima */
	ODL_ERR_ARENA_TOO_SMALL = -3, /* the caller's arena cannot hold the layout */
	ODL_ERR_LABEL = -4,           /* label >= number of classes */
	ODL_ERR_NONFINITE = -5,       /* NaN or Inf in an input or a parameter */
	ODL_ERR_PARAM = -6,           /* a training parameter is out of its documented range */
	ODL_ERR_LENGTH = -7,          /* a buffer length does not match the architecture */
	ODL_ERR_STATE = -8,           /* call not allowed in this state (e.g. training an inference-only model) */
	ODL_ERR_STRATEGY = -9,        /* unknown strategy or score kind */
	ODL_ERR_BLOB_MAGIC = -10,     /* not a weight blob */
	ODL_ERR_BLOB_VERSION = -11,   /* blob format version not supported */
	ODL_ERR_BLOB_SIZE = -12,      /* blob shorter or longer than its header says */
	ODL_ERR_BLOB_ARCH = -13,      /* blob architecture differs from the model's */
	ODL_ERR_BLOB_CRC = -14,       /* blob checksum mismatch */
	ODL_ERR_DIVERGED = -15,       /* the forward pass produced NaN or Inf (weights diverged) */
	ODL_ERR_BUFFER_TOO_SMALL = -16, /* an output buffer is too small */
	ODL_ERR_GROW = -17,           /* growth refused: a size shrinks, the inputs or depth change, or it passes the configured maxima */
} odl_status_t;

/* Short, static, human-readable name of a status code ("ODL_ERR_LABEL"). */
const char *odl_status_str(odl_status_t status);

#ifdef __cplusplus
}
#endif

#endif /* ODL_STATUS_H */
