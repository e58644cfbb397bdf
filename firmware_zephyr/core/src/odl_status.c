#include "odl/odl_status.h"

const char *odl_status_str(odl_status_t status)
{
	switch (status) {
	case ODL_OK: return "ODL_OK";
	case ODL_ERR_NULL: return "ODL_ERR_NULL";
	case ODL_ERR_ARCH: return "ODL_ERR_ARCH";
	case ODL_ERR_ARENA_TOO_SMALL: return "ODL_ERR_ARENA_TOO_SMALL";
	case ODL_ERR_LABEL: return "ODL_ERR_LABEL";
	case ODL_ERR_NONFINITE: return "ODL_ERR_NONFINITE";
	case ODL_ERR_PARAM: return "ODL_ERR_PARAM";
	case ODL_ERR_LENGTH: return "ODL_ERR_LENGTH";
	case ODL_ERR_STATE: return "ODL_ERR_STATE";
	case ODL_ERR_STRATEGY: return "ODL_ERR_STRATEGY";
	case ODL_ERR_BLOB_MAGIC: return "ODL_ERR_BLOB_MAGIC";
	case ODL_ERR_BLOB_VERSION: return "ODL_ERR_BLOB_VERSION";
	case ODL_ERR_BLOB_SIZE: return "ODL_ERR_BLOB_SIZE";
	case ODL_ERR_BLOB_ARCH: return "ODL_ERR_BLOB_ARCH";
	case ODL_ERR_BLOB_CRC: return "ODL_ERR_BLOB_CRC";
	case ODL_ERR_DIVERGED: return "ODL_ERR_DIVERGED";
	case ODL_ERR_BUFFER_TOO_SMALL: return "ODL_ERR_BUFFER_TOO_SMALL";
	case ODL_ERR_GROW: return "ODL_ERR_GROW";
	}
	return "ODL_ERR_UNKNOWN";
}
