#include <string.h>

#include "odl/odl_blob.h"
#include "odl/odl_crc32.h"
#include "odl_internal.h"

#define BLOB_MAX_LAYERS 4u
#define DTYPE_FLOAT32 0u

static const uint8_t magic[4] = {'O', 'D', 'L', 'W'};

static uint16_t get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

static void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++) {
		p[i] = (uint8_t)(v >> (8 * i));
	}
}

size_t odl_blob_size(const odl_arch_t *arch)
{
	const size_t n = odl_arch_param_count(arch);

	return n == 0u ? 0u : ODL_BLOB_HEADER_BYTES + n * sizeof(float) + ODL_BLOB_CRC_BYTES;
}

static void make_header(const odl_arch_t *arch, uint8_t *h)
{
	memset(h, 0, ODL_BLOB_HEADER_BYTES);
	memcpy(h, magic, sizeof(magic));
	put_u16(h + 4, ODL_BLOB_VERSION);
	h[6] = arch->n_layers;
	h[7] = DTYPE_FLOAT32;
	for (unsigned l = 0; l <= arch->n_layers; l++) {
		put_u16(h + 8 + 2u * l, arch->sizes[l]);
	}
	put_u32(h + 20, (uint32_t)odl_arch_param_count(arch));
}

odl_status_t odl_blob_parse_header(const uint8_t *buf, size_t len, odl_arch_t *arch,
				   size_t *total)
{
	if (buf == NULL || arch == NULL || total == NULL) {
		return ODL_ERR_NULL;
	}
	if (len < ODL_BLOB_HEADER_BYTES) {
		return ODL_ERR_BLOB_SIZE;
	}
	if (memcmp(buf, magic, sizeof(magic)) != 0) {
		return ODL_ERR_BLOB_MAGIC;
	}
	if (get_u16(buf + 4) != ODL_BLOB_VERSION || buf[7] != DTYPE_FLOAT32) {
		return ODL_ERR_BLOB_VERSION;
	}
	odl_arch_t a;

	memset(&a, 0, sizeof(a));
	if (buf[6] < 1u || buf[6] > ODL_MAX_LAYERS) {
		return ODL_ERR_BLOB_ARCH;
	}
	a.n_layers = buf[6];
	for (unsigned l = 0; l <= BLOB_MAX_LAYERS; l++) {
		const uint16_t s = get_u16(buf + 8 + 2u * l);

		if (l > a.n_layers) {
			if (s != 0u) {
				return ODL_ERR_BLOB_ARCH;
			}
		} else {
			a.sizes[l] = s;
		}
	}
	if (odl_arch_check(&a) != ODL_OK) {
		return ODL_ERR_BLOB_ARCH;
	}
	if (get_u16(buf + 18) != 0u || get_u32(buf + 20) != odl_arch_param_count(&a)) {
		return ODL_ERR_BLOB_SIZE;
	}
	*arch = a;
	*total = odl_blob_size(&a);
	return ODL_OK;
}

static int same_arch(const odl_arch_t *a, const odl_arch_t *b)
{
	if (a->n_layers != b->n_layers) {
		return 0;
	}
	for (unsigned l = 0; l <= a->n_layers; l++) {
		if (a->sizes[l] != b->sizes[l]) {
			return 0;
		}
	}
	return 1;
}

odl_status_t odl_blob_chunk(const odl_model_t *model, size_t offset, uint8_t *out, size_t len,
			    size_t *n)
{
	if (model == NULL || out == NULL || n == NULL) {
		return ODL_ERR_NULL;
	}
	if (model->arena.base == NULL) {
		return ODL_ERR_STATE;
	}
	const size_t total = odl_blob_size(&model->arch);
	const size_t payload_end = total - ODL_BLOB_CRC_BYTES;
	const uint8_t *params = (const uint8_t *)odl_params(model);
	uint8_t header[ODL_BLOB_HEADER_BYTES];

	if (offset > total) {
		return ODL_ERR_LENGTH;
	}
	make_header(&model->arch, header);
	size_t done = 0;

	while (done < len && offset + done < total) {
		const size_t pos = offset + done;

		if (pos < ODL_BLOB_HEADER_BYTES) {
			out[done++] = header[pos];
		} else if (pos < payload_end) {
			size_t run = payload_end - pos;

			if (run > len - done) {
				run = len - done;
			}
			memcpy(out + done, params + (pos - ODL_BLOB_HEADER_BYTES), run);
			done += run;
		} else {
			uint8_t crc[ODL_BLOB_CRC_BYTES];
			uint32_t c = odl_crc32(header, sizeof(header), 0u);

			c = odl_crc32(params, payload_end - ODL_BLOB_HEADER_BYTES, c);
			put_u32(crc, c);
			while (done < len && offset + done < total) {
				out[done] = crc[offset + done - payload_end];
				done++;
			}
		}
	}
	*n = done;
	return ODL_OK;
}

odl_status_t odl_blob_write(const odl_model_t *model, uint8_t *buf, size_t cap, size_t *written)
{
	if (model == NULL || buf == NULL || written == NULL) {
		return ODL_ERR_NULL;
	}
	if (model->arena.base == NULL) {
		return ODL_ERR_STATE;
	}
	if (cap < odl_blob_size(&model->arch)) {
		return ODL_ERR_BUFFER_TOO_SMALL;
	}
	return odl_blob_chunk(model, 0, buf, cap, written);
}

/* Header checks shared by whole and streamed loads. */
static odl_status_t check_header_for(const odl_model_t *model, const uint8_t *h, size_t *total)
{
	odl_arch_t a;
	odl_status_t st = odl_blob_parse_header(h, ODL_BLOB_HEADER_BYTES, &a, total);

	if (st != ODL_OK) {
		return st;
	}
	return same_arch(&a, &model->arch) ? ODL_OK : ODL_ERR_BLOB_ARCH;
}

static odl_status_t check_params_finite(const uint8_t *payload, size_t n_params)
{
	for (size_t i = 0; i < n_params; i++) {
		float v;

		memcpy(&v, payload + i * sizeof(float), sizeof(v));
		if (!isfinite(v)) {
			return ODL_ERR_NONFINITE;
		}
	}
	return ODL_OK;
}

odl_status_t odl_blob_read(odl_model_t *model, const uint8_t *buf, size_t len)
{
	if (model == NULL || buf == NULL) {
		return ODL_ERR_NULL;
	}
	if (model->arena.base == NULL) {
		return ODL_ERR_STATE;
	}
	if (len < ODL_BLOB_HEADER_BYTES) {
		return ODL_ERR_BLOB_SIZE;
	}
	size_t total;
	odl_status_t st = check_header_for(model, buf, &total);

	if (st != ODL_OK) {
		return st;
	}
	if (len != total) {
		return ODL_ERR_BLOB_SIZE;
	}
	const size_t payload_end = total - ODL_BLOB_CRC_BYTES;

	if (odl_crc32(buf, payload_end, 0u) != get_u32(buf + payload_end)) {
		return ODL_ERR_BLOB_CRC;
	}
	const size_t n_params = (payload_end - ODL_BLOB_HEADER_BYTES) / sizeof(float);

	st = check_params_finite(buf + ODL_BLOB_HEADER_BYTES, n_params);
	if (st != ODL_OK) {
		return st;
	}
	memcpy(odl_params(model), buf + ODL_BLOB_HEADER_BYTES, n_params * sizeof(float));
	odl_model_reset_training_state(model);
	model->weights_ok = 1u;
	return ODL_OK;
}

odl_status_t odl_blob_load_begin(odl_blob_loader_t *loader, odl_model_t *model)
{
	if (loader == NULL || model == NULL) {
		return ODL_ERR_NULL;
	}
	if (model->arena.base == NULL) {
		return ODL_ERR_STATE;
	}
	memset(loader, 0, sizeof(*loader));
	loader->model = model;
	loader->total = odl_blob_size(&model->arch);
	return ODL_OK;
}

odl_status_t odl_blob_load_feed(odl_blob_loader_t *loader, const uint8_t *data, size_t len)
{
	if (loader == NULL || (data == NULL && len > 0u)) {
		return ODL_ERR_NULL;
	}
	if (loader->model == NULL) {
		return ODL_ERR_STATE;
	}
	if (loader->status != ODL_OK) {
		return loader->status;
	}
	odl_model_t *m = loader->model;
	const size_t payload_end = loader->total - ODL_BLOB_CRC_BYTES;
	uint8_t *params = (uint8_t *)odl_params(m);

	if (len > loader->total - loader->received) {
		loader->status = ODL_ERR_BLOB_SIZE;
		return loader->status;
	}
	for (size_t i = 0; i < len;) {
		const size_t pos = loader->received;
		size_t run;

		if (pos < ODL_BLOB_HEADER_BYTES) {
			run = ODL_BLOB_HEADER_BYTES - pos < len - i ? ODL_BLOB_HEADER_BYTES - pos
								     : len - i;
			memcpy(loader->header + pos, data + i, run);
			if (pos + run == ODL_BLOB_HEADER_BYTES) {
				size_t total;
				odl_status_t st = check_header_for(m, loader->header, &total);

				if (st != ODL_OK) {
					loader->status = st;
					return st;
				}
			}
		} else if (pos < payload_end) {
			run = payload_end - pos < len - i ? payload_end - pos : len - i;
			/* from here on the weights are in flux until end() vouches for them */
			m->weights_ok = 0u;
			memcpy(params + (pos - ODL_BLOB_HEADER_BYTES), data + i, run);
		} else {
			run = len - i;
			memcpy(loader->trailer + (pos - payload_end), data + i, run);
		}
		if (pos < payload_end) {
			loader->crc = odl_crc32(data + i, run, loader->crc);
		}
		loader->received += run;
		i += run;
	}
	return ODL_OK;
}

odl_status_t odl_blob_load_end(odl_blob_loader_t *loader)
{
	if (loader == NULL) {
		return ODL_ERR_NULL;
	}
	if (loader->model == NULL) {
		return ODL_ERR_STATE;
	}
	odl_model_t *m = loader->model;
	odl_status_t st = loader->status;

	if (st == ODL_OK && loader->received != loader->total) {
		st = ODL_ERR_BLOB_SIZE;
	}
	if (st == ODL_OK && loader->crc != get_u32(loader->trailer)) {
		st = ODL_ERR_BLOB_CRC;
	}
	const size_t n_params = odl_arch_param_count(&m->arch);

	if (st == ODL_OK) {
		st = check_params_finite((const uint8_t *)odl_params(m), n_params);
	}
	loader->model = NULL;
	if (st != ODL_OK) {
		return st;
	}
	odl_model_reset_training_state(m);
	m->weights_ok = 1u;
	return ODL_OK;
}
