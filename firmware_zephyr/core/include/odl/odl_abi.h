/*
 * odl_abi.h - sizes of the public structs, for foreign-function bindings
 * (the host's ctypes binding checks its mirrors against these at load time).
 */
#ifndef ODL_ABI_H
#define ODL_ABI_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ODL_ABI_VERSION 1u

unsigned odl_abi_version(void);
size_t odl_abi_sizeof_model(void);
size_t odl_abi_sizeof_arch(void);
size_t odl_abi_sizeof_train_params(void);
size_t odl_abi_sizeof_step_result(void);
size_t odl_abi_sizeof_stats(void);
size_t odl_abi_sizeof_blob_loader(void);
unsigned odl_abi_max_layers(void);
unsigned odl_abi_max_inputs(void);
unsigned odl_abi_max_neurons(void);

#ifdef __cplusplus
}
#endif

#endif /* ODL_ABI_H */
