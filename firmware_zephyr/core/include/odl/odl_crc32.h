/*
 * odl_crc32.h - CRC-32/ISO-HDLC (the zlib and Ethernet CRC: reflected
 * polynomial 0xEDB88320, init and final XOR 0xFFFFFFFF), so that Python's
 * zlib.crc32 checks the same bytes.
 */
#ifndef ODL_CRC32_H
#define ODL_CRC32_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* CRC of len bytes continuing from crc (start with 0): crc32(b, crc32(a, 0)) == crc32(a||b). */
uint32_t odl_crc32(const void *data, size_t len, uint32_t crc);

#ifdef __cplusplus
}
#endif

#endif /* ODL_CRC32_H */
