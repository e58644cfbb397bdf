#include "odl/odl_crc32.h"

uint32_t odl_crc32(const void *data, size_t len, uint32_t crc)
{
	const uint8_t *p = data;

	crc = ~crc;
	for (size_t i = 0; i < len; i++) {
		crc ^= p[i];
		for (int bit = 0; bit < 8; bit++) {
			/* branch-free: the mask is all ones when the low bit is set */
			crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
		}
	}
	return ~crc;
}
