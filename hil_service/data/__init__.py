"""Data sets beyond the digits: sensor time series bundled in `aeon`, the user's own
files, and each data set's default base-model recipe. hil_service.datasets registers
them in its LOADERS; these modules import it only inside functions, so either side
can be imported first."""
