/* The strategy table: the one place that maps a strategy id to its code. */
#include "odl_strategy.h"

static const struct odl_strategy_ops *const strategies[ODL_STRATEGY_COUNT] = {
	[ODL_STRATEGY_FULL] = &odl_strategy_full_ops,
	[ODL_STRATEGY_LAST_LAYER] = &odl_strategy_last_layer_ops,
	[ODL_STRATEGY_TINYPROP] = &odl_strategy_tinyprop_ops,
	[ODL_STRATEGY_LAST_LAYER_Q8] = &odl_strategy_last_layer_q8_ops,
};

const struct odl_strategy_ops *odl_strategy_get(uint32_t strategy)
{
	return strategy < ODL_STRATEGY_COUNT ? strategies[strategy] : NULL;
}
