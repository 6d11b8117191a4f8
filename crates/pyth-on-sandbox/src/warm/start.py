

_pyth_on_boot()
