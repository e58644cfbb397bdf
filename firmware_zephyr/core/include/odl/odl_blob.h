/*
 * odl_blob.h - the versioned, self-describing weight blob.
 *
 * Byte layout (little-endian; docs/weight_blob.md has the same table and
 * hil_service.reference.blob the Python twin):
 *
 *   offset  size  field
 *   0       4     magic "ODLW"
 *   4       2     format version, 1
 *   6       1     n_layers, 1..4
 *   7       1     dtype, 0 = float32
 *   8       10    sizes[0..4] as uint16 (unused entries 0)
 *   18      2     reserved, 0
 *   20      4     n_params: float count that follows
 *   24      4*n   parameters: per layer, W row-major (n_out x n_in) then b
 *   24+4n   4     CRC-32 (odl_crc32.h) of bytes 0 .. 24+4n-1
 *
 * A blob is applied only to a model of the same architecture. Loading checks
 * magic, version, sizes, architecture, checksum and that every parameter is
 * finite before the model's weights change; a refused blob never writes
 * outside the model's parameters.
 */
#ifndef ODL_BLOB_H
#define ODL_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include "odl_model.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ODL_BLOB_VERSION 1u
#define ODL_BLOB_HEADER_BYTES 24u
#define ODL_BLOB_CRC_BYTES 4u

/* Total blob bytes for an architecture; 0 when the architecture is invalid. */
size_t odl_blob_size(const odl_arch_t *arch);

/* Parse and check a header (len >= ODL_BLOB_HEADER_BYTES) into arch and the
 * blob's total size. Checks magic, version, dtype, architecture and count. */
odl_status_t odl_blob_parse_header(const uint8_t *buf, size_t len, odl_arch_t *arch,
				   size_t *total);

/* Write the model's blob into buf (cap bytes); *written receives its size. */
odl_status_t odl_blob_write(const odl_model_t *model, uint8_t *buf, size_t cap, size_t *written);

/* Bytes [offset, offset + len) of the model's blob into out (for sending it
 * in chunks without a staging copy); *n receives how many were produced,
 * less than len only at the end of the blob. */
odl_status_t odl_blob_chunk(const odl_model_t *model, size_t offset, uint8_t *out, size_t len,
			    size_t *n);

/* Load a whole blob: everything is checked before any weight changes.
 * Resets TinyProp state, momentum and statistics on success. */
odl_status_t odl_blob_read(odl_model_t *model, const uint8_t *buf, size_t len);

/*
 * Streamed load for links with small frames: begin, feed chunks in order,
 * end. Parameters are written in place as they arrive, so a blob refused at
 * end (short, bad checksum, non-finite value) leaves the model's weights
 * unusable: predict and train then return ODL_ERR_STATE until a good blob is
 * loaded or the weights are re-initialised. Header errors are reported by the
 * feed call that completes the header, before any weight changes.
 */
typedef struct odl_blob_loader {
	odl_model_t *model;
	size_t received;
	size_t total;
	uint32_t crc;
	uint8_t header[ODL_BLOB_HEADER_BYTES];
	uint8_t trailer[ODL_BLOB_CRC_BYTES];
	odl_status_t status; /* first error seen; sticky */
} odl_blob_loader_t;

odl_status_t odl_blob_load_begin(odl_blob_loader_t *loader, odl_model_t *model);
odl_status_t odl_blob_load_feed(odl_blob_loader_t *loader, const uint8_t *data, size_t len);
odl_status_t odl_blob_load_end(odl_blob_loader_t *loader);

#ifdef __cplusplus
}
#endif

#endif /* ODL_BLOB_H */
