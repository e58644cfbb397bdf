#include "odl/odl_abi.h"
#include "odl/odl_blob.h"
#include "odl/odl_train.h"

unsigned odl_abi_version(void) { return ODL_ABI_VERSION; }
size_t odl_abi_sizeof_model(void) { return sizeof(odl_model_t); }
size_t odl_abi_sizeof_arch(void) { return sizeof(odl_arch_t); }
size_t odl_abi_sizeof_train_params(void) { return sizeof(odl_train_params_t); }
size_t odl_abi_sizeof_step_result(void) { return sizeof(odl_step_result_t); }
size_t odl_abi_sizeof_stats(void) { return sizeof(odl_stats_t); }
size_t odl_abi_sizeof_blob_loader(void) { return sizeof(odl_blob_loader_t); }
unsigned odl_abi_max_layers(void) { return ODL_MAX_LAYERS; }
unsigned odl_abi_max_inputs(void) { return ODL_MAX_INPUTS; }
unsigned odl_abi_max_neurons(void) { return ODL_MAX_NEURONS; }
